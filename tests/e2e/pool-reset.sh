#!/usr/bin/env bash
# needs: kvm
# timeout: 1200
# prepare: lib-run.sh run_fixture
# A VM given back to a pool is reset to its snapshot in place (docs/pool.md): the same
# VM, in the same VMM process, comes back ready and clean. Before the release the test
# dirties it every way a user can: files (cp and exec), a background process, an exec
# session still open, a port published with httpd serving behind it; and it reads the
# guest's random bytes. After it: the exec session has ended, the same name and VMM pid
# are handed out again, the image's files are back, the process and the port are gone,
# the old host port refuses connections, the random bytes differ, the clock is right,
# and the network works again (a new publish serves). Three rounds. Release --discard
# still stops the VM and removes its record.
set -eu
. "$(dirname "$0")/lib-run.sh"
run_setup --baked
I=$RUN_IMAGE
SM=$SUPERMACHINE
SERVE=
SESSION=
pool_cleanup() {
    [ -n "$SESSION" ] && kill -9 "$SESSION" 2>/dev/null
    [ -n "$SERVE" ] && kill -9 "$SERVE" 2>/dev/null
    run_cleanup
}
trap pool_cleanup EXIT

ready_count() { "$SM" pool ls | awk '$1 == "t" { print $3 }'; }
# id_of NAME: the VM's id (its record's directory).
id_of() {
    python3 - "$SUPERMACHINE_HOME/vms" "$1" <<'PY'
import json, os, sys
for d in os.listdir(sys.argv[1]):
    try:
        if json.load(open(os.path.join(sys.argv[1], d, "config.json")))["name"] == sys.argv[2]:
            print(d)
    except (OSError, ValueError, KeyError):
        pass
PY
}
vmm_pid_of() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["vmm_pid"])' "$SUPERMACHINE_HOME/vms/$1/state.json"; }
# step TEXT: where the test is, for a run that hangs.
step() { echo "  [$(date +%T)] round $round: $*"; }
HTTPD='mkdir -p /www && echo "served by $(hostname)" >/www/index.html && httpd -p 8080 -h /www'

# The snapshot first: the pool's first VM would otherwise boot and bake it, and a VM
# that booted cannot be reset (it is replaced).
expect 0 "baked" -- run --rm "$I" echo baked
# No idle timeout: a ready VM trimmed meanwhile would hide the one coming back.
"$SM" pool serve --min 1 --max 2 --idle-timeout 0 t "$I" >"$WORK/serve.log" 2>&1 </dev/null &
SERVE=$!
wait_for 900 grep -q '^pool t: 1 ready' "$WORK/serve.log" ||
    fail "the pool never had a VM ready: $(cat "$WORK/serve.log")"

A=$("$SM" pool acquire t) || fail "acquire failed"
ID=$(id_of "$A")
[ -n "$ID" ] || fail "no record named $A"
grep -q '"restore"' "$SUPERMACHINE_HOME/vms/$ID/vmm.json" || fail "$A was not restored from the snapshot"
PID=$(vmm_pid_of "$ID")
echo "acquired $A (VMM $PID)"

round=0
for round in 1 2 3; do
    # ---- dirty it ----
    step "dirtying $A"
    head -c 100000 /dev/urandom >"$WORK/blob"
    sm cp "$WORK/blob" "$A:/tmp/blob"
    [ "$RC" = 0 ] || fail "cp into $A: $RC $(cat "$ERR")"
    sm exec "$A" sh -c 'echo dirty >/etc/motd; touch /tmp/mark; sleep 1000 </dev/null >/dev/null 2>&1 &'
    [ "$RC" = 0 ] || fail "exec in $A: $RC $(cat "$ERR")"
    sm exec "$A" sh -c "$HTTPD"
    [ "$RC" = 0 ] || fail "httpd in $A: $RC $(cat "$ERR")"
    port=$(free_port)
    step "publishing $port"
    expect 0 "127.0.0.1:$port:8080/tcp" -- port --publish "127.0.0.1:$port:8080" "$A"
    page=$(wait_http "http://127.0.0.1:$port/index.html" 20) || fail "curl through $port before the reset"
    sm exec "$A" sh -c 'head -c 16 /dev/urandom | od -An -tx1 | tr -d " \n"'
    rand1=$(cat "$OUT")
    [ ${#rand1} = 32 ] || fail "random bytes: '$rand1'"
    "$SM" exec "$A" sleep 1000 >/dev/null 2>&1 </dev/null &
    SESSION=$!
    sleep 1

    # ---- give it back: reset in place ----
    step "releasing $A"
    before=$(ready_count)
    t0=$(now_ms)
    sm pool release t "$A"
    [ "$RC" = 0 ] || fail "release $A: $RC $(cat "$ERR")"
    back() { [ "$(ready_count)" -gt "$before" ]; }
    wait_for 300 back || fail "$A never came back ready: $("$SM" pool ls) $(cat "$WORK/serve.log")"
    echo "round $round: released $A ready again after $(($(now_ms) - t0)) ms (reset in place + agent hello)"
    ended() { ! kill -0 "$SESSION" 2>/dev/null; }
    wait_for 60 ended || fail "the exec session open across the reset did not end"
    rc=0
    wait "$SESSION" || rc=$?
    SESSION=
    [ "$rc" != 0 ] || fail "the exec session cut by the reset reported success"

    # ---- the same VM, clean ----
    step "checking $A"
    B=$("$SM" pool acquire t) || fail "acquire after the release failed"
    [ "$B" = "$A" ] || fail "acquire handed out $B, not the VM reset ($A)"
    [ "$(id_of "$B")" = "$ID" ] && [ "$(vmm_pid_of "$ID")" = "$PID" ] && kill -0 "$PID" ||
        fail "the VM was not reset in place (VMM $PID -> $(vmm_pid_of "$ID"))"
    expect 0 "from-the-image absent absent 0" -- exec "$A" sh -c \
        'echo "$(cat /etc/motd) $(test -e /tmp/mark && echo present || echo absent) $(test -e /tmp/blob && echo present || echo absent) $(ps | grep -c "[s]leep 1000")"'
    sm exec "$A" sh -c 'head -c 16 /dev/urandom | od -An -tx1 | tr -d " \n"'
    rand2=$(cat "$OUT")
    [ ${#rand2} = 32 ] && [ "$rand2" != "$rand1" ] || fail "random bytes after the reset: '$rand2' (before: '$rand1')"
    sm exec "$A" date +%s
    skew=$(($(cat "$OUT") - $(date +%s)))
    [ "${skew#-}" -le 10 ] || fail "the guest clock is off by $skew s after the reset"
    sm port "$A"
    [ "$RC" = 0 ] && [ ! -s "$OUT" ] || fail "ports still published after the reset: $RC $(cat "$OUT" "$ERR")"
    curl -sf --max-time 5 "http://127.0.0.1:$port/index.html" >/dev/null &&
        fail "the old published port $port still serves after the reset"
    # The network works again: a new publish of a new httpd serves.
    sm exec "$A" sh -c "$HTTPD"
    [ "$RC" = 0 ] || fail "httpd after the reset: $RC $(cat "$ERR")"
    expect 0 "127.0.0.1:$port:8080/tcp" -- port --publish "127.0.0.1:$port:8080" "$A"
    page=$(wait_http "http://127.0.0.1:$port/index.html" 20) || fail "curl through $port after the reset"
    echo "round $round: same VM and VMM, clean (files, process, port), new random bytes, clock off by $skew s, network serves: $page"
    # The next round dirties a VM as acquired: no httpd, no port.
    sm port --unpublish "127.0.0.1:$port:8080" "$A"
    [ "$RC" = 0 ] || fail "unpublish: $RC $(cat "$ERR")"
    sm exec "$A" killall httpd
    [ "$RC" = 0 ] || fail "killall httpd: $RC $(cat "$ERR")"
done

# ---- discard: stopped and removed, not reset ----
sm pool release --discard t "$A"
[ "$RC" = 0 ] || fail "release --discard: $RC $(cat "$ERR")"
gone() { ! kill -0 "$PID" 2>/dev/null && [ ! -d "$SUPERMACHINE_HOME/vms/$ID" ]; }
wait_for 60 gone || fail "a discarded VM still runs or has its record"
echo "release --discard: VMM ended, record removed"
grep -q 'reset .*: ' "$WORK/serve.log" && fail "a reset failed: $(cat "$WORK/serve.log")"
kill -TERM "$SERVE"
wait "$SERVE" || fail "serve after SIGTERM: $(cat "$WORK/serve.log")"
SERVE=
echo PASS
