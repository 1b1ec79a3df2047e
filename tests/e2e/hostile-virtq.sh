#!/usr/bin/env bash
# needs: kvm
# timeout: 900
# prepare: lib-run.sh run_fixture
# A guest that drives a virtio device by hand, as a hostile guest kernel could
# (tests/tools/sm-virtq-hostile.c; docs/security.md, "Bounded resources"): descriptor
# loops, chains through addresses outside guest RAM, an available index that jumps past
# the ring, looping and nested indirect tables, thousands of reset-and-break cycles, and
# storms of notifications and register reads. The device refuses every bad chain (and
# serves a valid request after each reset), the VMM's log and memory stay bounded, the
# agent answers during the storms, and `stop` ends the VM within 5 s mid-storm.
set -eu
. "$(dirname "$0")/lib-run.sh"
run_setup --baked
I=$RUN_IMAGE
tool=$(dirname "$SUPERMACHINE")/tests/tools/sm-virtq-hostile

expect 0 "baked" -- run --rm "$I" echo baked
sm run -d --name hv -m 512m "$I" sleep 600
[ "$RC" = 0 ] || fail "run -d: $(cat "$ERR")"
id=$(cat "$OUT")
pid=$(vmm_pid_of "$id")
log=$SUPERMACHINE_HOME/vms/$id/vmm.log
sm cp "$tool" hv:/bin/sm-virtq-hostile
[ "$RC" = 0 ] || fail "cp sm-virtq-hostile: $(cat "$ERR")"
before=$(vmm_own_kib "$pid" 512)

# Every attack once, then 2000 reset-and-break cycles.
cycles=2000
sm exec hv sm-virtq-hostile attacks fail-loop $cycles
cat "$OUT"
[ "$RC" = 0 ] || fail "attacks: exit $RC: $(cat "$ERR")"
grep -q "^result: valid request before: served" "$OUT" || fail "the hand-driven device never served"
grep -q "^result: descriptor loop: refused" "$OUT" || fail "the descriptor loop was not refused"
grep -q "^result: fail-loop: $cycles of $cycles looping chains refused" "$OUT" || fail "fail loop"
grep -q "^result: valid request after the fail loop: served" "$OUT" || fail "dead after the fail loop"
refusals=$(grep -c "virtio-rng: .*the device stops until reset" "$log" || true)
kinds=$(grep -o "virtio-rng: [^;]*" "$log" | sort -u)
echo "the VMM logged $refusals refusals of $cycles+ ($(wc -c <"$log") bytes of log):"
echo "$kinds" | sed 's/^/    /'
[ "$refusals" -ge 5 ] || fail "the refusals were not logged: $(cat "$log")"
[ "$refusals" -le 32 ] || fail "$refusals log lines for $cycles refusals: the log is not bounded"
echo "$kinds" | grep -q "loop" || fail "no loop named in the log"

# The storms in the background; the agent answers meanwhile.
sm exec hv sh -c 'sm-virtq-hostile notify-storm 15 read-storm 15 >/tmp/storm.log 2>&1 &'
[ "$RC" = 0 ] || fail "start the storms: $(cat "$ERR")"
for phase in notify read; do
    sleep 5
    t0=$(date +%s%N)
    expect 0 "alive" -- exec hv echo alive
    echo "exec during the $phase storm: $(ms_since "$t0") ms"
    sleep 5
done
for i in $(seq 60); do
    sm exec hv cat /tmp/storm.log
    grep -q "^result: every attack refused" "$OUT" && break
    grep -q "^result: the device misbehaved" "$OUT" && break
    sleep 1
done
cat "$OUT"
grep -q "^result: notify storm: [0-9]" "$OUT" || fail "no notify storm"
grep -q "^result: register read storm: [0-9]" "$OUT" || fail "no read storm"
grep -q "^result: valid request after the read storm: served" "$OUT" || fail "dead after the storms"
after=$(vmm_own_kib "$pid" 512)
echo "the VMM's own memory: $((before / 1024)) MiB before, $((after / 1024)) MiB after"
[ $((after - before)) -lt $((64 * 1024)) ] || fail "the VMM grew by $(((after - before) / 1024)) MiB"

# stop, mid-storm, within 5 s.
sm exec hv sh -c 'sm-virtq-hostile read-storm 120 >/dev/null 2>&1 &'
[ "$RC" = 0 ] || fail "start a storm: $(cat "$ERR")"
sleep 2
stop_within_5s hv "$pid" "a register read storm"
grep "seccomp" "$log" && fail "the filter refused a call"
sm rm hv
echo ok
