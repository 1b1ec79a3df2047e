#!/usr/bin/env bash
# Bad command lines get one line on stderr naming the option and what is wrong with it,
# and exit status 125, whatever the command: an unknown option (long, short, or inside a
# cluster of short ones), an option missing its value, docker options a VM has no use
# for, with the reason, and bad values of run's and stop's options (--stop-signal,
# --stop-timeout, --add-host, --tmpfs, --label, --dns*, a relative --workdir, stop -s and -t), which leave no VM record behind (ps -a is
# as it was).
# Needs no KVM: all of it is refused before a VM exists.
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
check "pause: unknown option '-x'; see 'supermachine pause --help'" pause -x vm
check "unpause: no VM given; see 'supermachine unpause --help'" unpause
check "unpause: nosuchvm: no such VM" unpause nosuchvm
check "top: no VM given; see 'supermachine top --help'" top
check "top: ps option -L is not supported (-ef, aux, -o LIST)" top vm -L
check "top: ps -o: unknown field bogus (see supermachine top --help)" top vm -o pid,bogus
check "top: ps option -o needs a list of fields" top vm -o
check "top: nosuchvm: no such VM" top nosuchvm
check "stats: unknown option '-z'; see 'supermachine stats --help'" stats -z
check "stats nosuchvm: no such VM" stats --no-stream nosuchvm
check "system: want df or prune; see 'supermachine system --help'" system
check "system: unknown command 'nope'; see 'supermachine system --help'" system nope
check "system prune: unknown option '-z'; see 'supermachine system prune --help'" system prune -z
check "system df: unexpected argument 'x'" system df x
check "restart: no VM given; see 'supermachine restart --help'" restart
check "restart: -s FOO: not a signal (a name such as TERM or USR1, or a number)" restart -s FOO vm
check "rename: want VM NEW_NAME; see 'supermachine rename --help'" rename onlyone
check "rename: nosuchvm: no such VM" rename nosuchvm other
check "pool serve: unknown option '--bogus'; see 'supermachine pool serve --help'" pool serve --bogus p img
check "run: --env-file $dir/none: No such file or directory" run --env-file "$dir/none" img

# Values run keeps in the VM's record and stop uses: refused before anything is made.
"$SUPERMACHINE" ps -a >"$dir/ps-before" 2>&1
notsig="not a signal (a name such as TERM or USR1, or a number)"
check "run img: --stop-signal BOGUS: $notsig" run --stop-signal BOGUS img
check "run img: --stop-signal 0: $notsig" run -d --stop-signal 0 img true
check "run img: --stop-signal SIGRTMAX+1: $notsig" run --stop-signal SIGRTMAX+1 img
check "bake img: --stop-signal USR3: $notsig" bake --snapshot-on idle --stop-signal USR3 img
check "run img: --workdir rel/dir: want an absolute path" run -w rel/dir img true
check "run img: --restart sometimes: want no, on-failure[:MAX-RETRIES], always or unless-stopped" run -d --restart sometimes img
check "run img: --restart always: needs -d (a detached run's monitor starts the process again)" run --restart always img
check "run img: --restart always: conflicts with --rm" run -d --rm --restart always img
check "run: --stop-timeout soon: want seconds from 0 to 86400" run --stop-timeout soon img
check "run: --stop-timeout -1: want seconds from 0 to 86400" run --stop-timeout -1 img
check "run: --stop-timeout 86401: want seconds from 0 to 86400" run --stop-timeout=86401 img
check "run: option '--stop-signal' needs a value; see 'supermachine run --help'" run --stop-signal
check "stop: -s NOPE: $notsig" stop -s NOPE vm
check "stop: -s SIG: $notsig" stop --signal=SIG vm
check "stop: -t 5x: want seconds from 0 to 86400" stop -t 5x vm
check "stop: -t 99999: want seconds from 0 to 86400" stop --timeout 99999 vm
notname="not a host name (labels of 1 to 63 letters, digits and '-', separated by dots)"
check "run img: --add-host db: want HOST:IP or HOST=IP" run --add-host db img
check "run img: --add-host db=: want HOST:IP or HOST=IP" run --add-host=db= img
check "run img: --add-host db:10.0.0.256: 10.0.0.256: not an IPv4 or IPv6 address" \
    run --add-host db:10.0.0.256 img
check "run img: --add-host v6=[fe80::1%eth0]: fe80::1%eth0: not an IPv4 or IPv6 address" \
    run --add-host 'v6=[fe80::1%eth0]' img
check "run img: --add-host my_db:10.0.0.1: my_db: $notname" run --add-host ok:10.0.0.2 \
    --add-host my_db:10.0.0.1 img
check "run img: --add-host -db=::1: -db: $notname" run -d --add-host -db=::1 img sleep 1
check "run img: --add-host gw:host-gateway: host-gateway: the VM has no network (--network none)" \
    run --network none --add-host gw:host-gateway img
check "run: option '--add-host' needs a value; see 'supermachine run --help'" run --add-host
check "run img: --tmpfs tmp: the path must be absolute" run --tmpfs tmp img
check "run img: --tmpfs /: the root cannot be a tmpfs (--read-only keeps it from writes)" run --tmpfs / img
check "run img: --tmpfs /proc/x: /proc is the guest's own" run --read-only --tmpfs /proc/x img
check "run img: --tmpfs /a/../etc: the path has an empty, '.' or '..' part" run --tmpfs /a/../etc img
check "run img: --tmpfs /tmp:size=1x: option size=1x: not a valid value" run --tmpfs /tmp:size=1x img
check "run img: --tmpfs /tmp:bind: unknown option 'bind'" run -d --tmpfs /tmp:bind img sleep 1
check "run img: --tmpfs /tmp:size=1m: /tmp is given twice" run --tmpfs /tmp --tmpfs /tmp:size=1m img
check "bake img: --tmpfs /tmp:mode=9: option mode=9: not a valid value" bake --snapshot-on after:1 \
    --tmpfs /tmp:mode=9 img
check "run: option '--tmpfs' needs a value; see 'supermachine run --help'" run --tmpfs
check "run img: --label =x: want KEY=VALUE or KEY, KEY 1 to 256 characters" run -l a=1 -l =x img
check "run img: --label a: a control character" run --label "$(printf 'a\tb')" img
check "run: --label-file $dir/none: No such file or directory" run --label-file "$dir/none" img
printf 'ok=1\n=bad\n' >"$dir/labels"
check "run: --label-file $dir/labels: line 2: no label name" run --label-file "$dir/labels" img
check "ps: --filter label: want status=, name=, id=, ancestor=, exited= or label=" ps -f label
check "run img: --pull sometimes: want always, missing or never" run --pull sometimes img
check "run img: --dns 8.8.8: not an IPv4 or IPv6 address" run --dns 1.1.1.1 --dns 8.8.8 img
check "run img: --dns fe80::1%eth0: not an IPv4 or IPv6 address" run -d --dns fe80::1%eth0 img true
check "run img: --dns-search a..b: an empty label" run --dns-search example.org --dns-search a..b img
check "run img: --dns-search a b: ' ' is not allowed in a domain" run --dns-search 'a b' img
check "run img: --dns-option ndots:2 x: only letters, digits, '-', '_', ':' and '.' are allowed" \
    run --dns-option 'ndots:2 x' img
check "bake img: --dns-option a#b: only letters, digits, '-', '_', ':' and '.' are allowed" \
    bake --snapshot-on after:1 --dns-opt 'a#b' img
check "run img: --dns-search: at most 6 entries" run --dns-search a --dns-search b \
    --dns-search c --dns-search d --dns-search e --dns-search f --dns-search g img
check "run: --shm-size 12x: want a size of 4k or more (64m, 1g)" run --shm-size 12x img
check "run: --shm-size 1k: want a size of 4k or more (64m, 1g)" run --shm-size 1k img
check "run img: --ulimit nofile=abc: the limits must be numbers (or -1, unlimited)" run --ulimit nofile=abc img
check "run img: --ulimit nofile=9:8: the soft limit is above the hard one" run --ulimit nofile=9:8 img
check "run img: --ulimit nofile=2: that limit is given twice" run --ulimit nofile=1 --ulimit nofile=2 img
check "run: --platform linux/s390x: this host runs only its own platform's images in a VM (no emulation)" \
    run --platform linux/s390x img
: >"$dir/cid"
check "run img: --cidfile $dir/cid: the file exists (another VM's?): remove it first" \
    run --cidfile "$dir/cid" img
check "run nosuch:img: not in the store, and --pull never" run --pull never --init \
    --platform linux/amd64 nosuch:img
for when in bogus 10x 1h30 2026-13-01 2026-12-06T25:00 2026-12-06T16:56:57+1 1.h -5m ""; do
    check "logs: --since $when: want a duration (10m), unix seconds or an RFC 3339 time (2026-12-06T16:56:57Z)" \
        logs --since "$when" vm
done
check "logs: --until x: want a duration (10m), unix seconds or an RFC 3339 time (2026-12-06T16:56:57Z)" \
    logs --until x vm
# Every form docker takes gets as far as looking the VM up.
for when in 10m 1h30m 1.5h 90s 250ms 1764000000 1764000000.5 2026-12-06 2026-12-06T16:56 \
    2026-12-06T16:56:57Z 2026-12-06T16:56:57.123456789+01:00 "2026-12-06 16:56:57"; do
    check "logs: nosuchvm: no such VM" logs -t --since "$when" --until "$when" nosuchvm
done
"$SUPERMACHINE" ps -a >"$dir/ps-after" 2>&1
if ! cmp -s "$dir/ps-before" "$dir/ps-after" || [ -n "$(ls "$SUPERMACHINE_HOME/vms" 2>/dev/null)" ]; then
    echo "FAIL: refused runs left VM records: ps -a:"
    cat "$dir/ps-after"
    ls -la "$SUPERMACHINE_HOME/vms"
    failed=1
fi
[ $failed = 0 ] && echo PASS
exit $failed
