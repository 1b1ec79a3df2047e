#!/usr/bin/env bash
# Bad command lines get one line on stderr naming the option and what is wrong with it,
# and exit status 125, whatever the command: an unknown option (long, short, or inside a
# cluster of short ones), an option missing its value, and docker options a VM has no use
# for, with the reason. Needs no KVM: all of it is refused before a VM exists.
set -eu
SM_REPO=${SM_REPO:-$(cd "$(dirname "$0")/../.." && pwd)}
SUPERMACHINE=${SUPERMACHINE:-$SM_REPO/build/supermachine}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
export SUPERMACHINE_HOME=$dir/home
failed=0
check() { # check EXPECTED-LINE ARGS...
    local want=$1 rc=0
    shift
    "$SUPERMACHINE" "$@" >"$dir/out" 2>"$dir/err" </dev/null || rc=$?
    if [ $rc != 125 ] || [ "$(cat "$dir/err")" != "supermachine: $want" ] || [ -s "$dir/out" ]; then
        echo "FAIL: supermachine $*: exit $rc, stderr:"
        cat "$dir/err"
        echo "  want: supermachine: $want"
        failed=1
    fi
}
check "run: unknown option '--frobnicate'; see 'supermachine run --help'" run --frobnicate img
check "run: unknown option '-x'; see 'supermachine run --help'" run -dx img
check "run: option '--env' needs a value; see 'supermachine run --help'" run --env
check "run: option '-e' needs a value; see 'supermachine run --help'" run -e
check "run: -v: host directories are not shared with a VM: copy them in with 'supermachine cp'" \
    run -v /src:/src img
check "run: --mount: host directories are not shared with a VM: copy them in with 'supermachine cp'" \
    run --mount=type=bind,src=/a,dst=/b img
check "exec: unknown option '--bogus'; see 'supermachine exec --help'" exec --bogus vm true
check "logs: option '-n' needs a value; see 'supermachine logs --help'" logs -n
check "ps: unknown option '-z'; see 'supermachine ps --help'" ps -z
check "cp: unknown option '-a'; see 'supermachine cp --help'" cp -a x vm:/y
check "stop: unknown option '--force'; see 'supermachine stop --help'" stop --force vm
check "pool serve: unknown option '--bogus'; see 'supermachine pool serve --help'" pool serve --bogus p img
check "run: --env-file $dir/none: No such file or directory" run --env-file "$dir/none" img
[ $failed = 0 ] && echo PASS
exit $failed
