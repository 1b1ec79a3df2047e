#!/usr/bin/env bash
# needs: kvm
# timeout: 1200
# prepare: lib-run.sh run_fixture
# A warm pool against real guests (docs/pool.md): `pool serve` (min 2, max 3) keeps VMs
# ready; `pool acquire` hands one out whose agent answers exec at once (latency printed,
# not asserted); ps lists it; a file written into it is gone once it is released and
# acquired again (reset to its snapshot in place: tests/e2e/pool-reset.sh); at max, one
# more acquire with a short timeout fails cleanly (125, one line naming the pool);
# `stop` works on a pooled VM without touching the server; a pool not served is one
# line and 125; kill -9 of the server ends every VMM of the pool, and the next serve
# removes the records they left.
set -eu
. "$(dirname "$0")/lib-run.sh"
run_setup
I=$RUN_IMAGE
SM=$SUPERMACHINE
SERVE=
pool_cleanup() {
    [ -n "$SERVE" ] && kill -9 "$SERVE" 2>/dev/null
    run_cleanup
}
trap pool_cleanup EXIT

# vmm_count: VMM processes of this test's store.
vmm_count() { pgrep -f "$SUPERMACHINE_HOME/vms/" | wc -l; }
in_use_count() { "$SM" pool ls | awk '$1 == "t" { print $4 }'; }

# ---- serve ----
t0=$(now_ms)
# No idle timeout: the released VM must stay among the ready ones (ready3).
"$SM" pool serve --min 2 --max 3 --idle-timeout 0 --network none t "$I" >"$WORK/serve.log" 2>&1 </dev/null &
SERVE=$!
wait_for 900 grep -q '^pool t: 2 ready' "$WORK/serve.log" ||
    fail "the pool never had 2 VMs ready: $(cat "$WORK/serve.log")"
echo "pool serve: 2 VMs ready after $(($(now_ms) - t0)) ms (the first boots and bakes the snapshot)"
"$SM" pool ls | grep -E '^t +localhost/runtest:1 +2 +0 +0 +2 +3$' ||
    fail "pool ls: $("$SM" pool ls)"

# ---- acquire: a VM whose agent answers at once ----
t0=$(now_ms)
A=$("$SM" pool acquire t) || fail "acquire failed"
t1=$(now_ms)
expect 0 "hello from $A" -- exec "$A" sh -c "echo hello from $A"
t2=$(now_ms)
t3=$(now_ms)
"$SM" --version >/dev/null
t4=$(now_ms)
echo "acquire latency: $((t1 - t0)) ms (CLI round trip; a bare CLI start takes $((t4 - t3)) ms here);" \
    "first exec answered $((t2 - t1)) ms later"
sm ps
grep -F "$A" "$OUT" | grep -qF '(pool t)' || fail "ps does not list $A as a pool VM: $(cat "$OUT")"

# ---- dirty it, release it: the next VM is clean ----
head -c 100000 /dev/urandom >"$WORK/blob"
sm cp "$WORK/blob" "$A:/tmp/blob"
[ "$RC" = 0 ] || fail "cp into $A: $RC $(cat "$ERR")"
sm exec "$A" sh -c 'echo dirty >/etc/motd; touch /tmp/mark'
[ "$RC" = 0 ] || fail "exec in $A: $RC $(cat "$ERR")"
sm pool release t "$A"
[ "$RC" = 0 ] || fail "release $A: $RC $(cat "$ERR")"
sm pool release t "$A"
[ "$RC" = 125 ] && grep -q "^supermachine: pool t: $A: " "$ERR" || fail "second release: $RC $(cat "$ERR")"
ready3() { [ "$("$SM" pool ls | awk '$1 == "t" { print $3 }')" = 3 ]; }
wait_for 300 ready3 || fail "the released VM did not come back ready: $("$SM" pool ls)"
t0=$(now_ms)
B=$("$SM" pool acquire t) || fail "second acquire failed"
echo "second acquire latency: $(($(now_ms) - t0)) ms"
[ "$B" = "$A" ] || fail "acquire handed out $B, not the newest ready VM ($A, just reset)"
expect 0 "from-the-image absent" -- exec "$B" sh -c 'echo "$(cat /etc/motd) $(test -e /tmp/mark && echo present || echo absent)"'
echo "released VM reset in place; handed out again clean (the image's /etc/motd, no /tmp/mark)"

# ---- at max, one more acquire fails cleanly ----
C=$("$SM" pool acquire --timeout 600 t) || fail "third acquire failed"
D=$("$SM" pool acquire --timeout 600 t) || fail "fourth acquire failed"
[ "$(in_use_count)" = 3 ] || fail "pool ls: $("$SM" pool ls)"
t0=$(now_ms)
sm pool acquire --timeout 2 t
waited=$(($(now_ms) - t0))
[ "$RC" = 125 ] || fail "acquire beyond max: exit $RC: $(cat "$OUT" "$ERR")"
[ "$(wc -l <"$ERR")" = 1 ] && grep -q '^supermachine: pool t: all 3 VMs are in use' "$ERR" ||
    fail "acquire beyond max: $(cat "$ERR")"
[ "$waited" -ge 1900 ] || fail "acquire beyond max returned after $waited ms, before its timeout"
echo "acquire beyond max: 125 after $waited ms: $(cat "$ERR")"
[ "$(vmm_count)" -le 3 ] || fail "more than max VMMs: $(vmm_count)"

# ---- stop on a pooled VM: the VM ends, the server does not ----
sm stop -t 5 "$C"
[ "$RC" = 0 ] || fail "stop $C: $RC $(cat "$ERR")"
kill -0 "$SERVE" || fail "stop of a pooled VM ended the pool server: $(cat "$WORK/serve.log")"
sm pool release t "$C"
[ "$RC" = 0 ] || fail "release of a stopped VM: $RC $(cat "$ERR")"
echo "stop on a pooled VM: it ends, the server serves on, its release still works"

# ---- a pool nobody serves ----
sm pool acquire nosuch
[ "$RC" = 125 ] && [ "$(wc -l <"$ERR")" = 1 ] && grep -q '^supermachine: pool nosuch: not served' "$ERR" ||
    fail "acquire from a pool not served: $RC $(cat "$ERR")"

# ---- kill -9 of the server: its VMs end with it ----
[ "$(vmm_count)" -ge 2 ] || fail "expected running VMMs, found $(vmm_count)"
kill -9 "$SERVE"
wait "$SERVE" 2>/dev/null || true
SERVE=
no_vmms() { [ "$(vmm_count)" = 0 ]; }
wait_for 60 no_vmms ||
    fail "VMMs left after the server was killed: $(pgrep -af "$SUPERMACHINE_HOME/vms/")"
echo "kill -9 of the server: every VMM of the pool ended"
sm pool acquire t
[ "$RC" = 125 ] && grep -q '^supermachine: pool t: not served' "$ERR" ||
    fail "acquire after the server died: $RC $(cat "$ERR")"
"$SM" ps -a | grep -qF '(pool t)' || fail "expected the dead pool's records in ps -a"

# The next serve (min 0: it starts nothing) removes them; SIGTERM ends it cleanly.
"$SM" pool serve --min 0 --max 1 t "$I" >"$WORK/serve2.log" 2>&1 </dev/null &
SERVE=$!
wait_for 60 grep -q '^pool t: serving' "$WORK/serve2.log" || fail "serve again: $(cat "$WORK/serve2.log")"
"$SM" ps -a | grep -qF '(pool t)' && fail "records of the killed pool left: $("$SM" ps -a)"
kill -TERM "$SERVE"
rc=0
wait "$SERVE" || rc=$?
SERVE=
[ "$rc" = 0 ] || fail "serve after SIGTERM: exit $rc: $(cat "$WORK/serve2.log")"
echo "the next serve removed the records; SIGTERM ends it with 0"
echo PASS
