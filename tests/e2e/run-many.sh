#!/usr/bin/env bash
# needs: kvm
# timeout: 900
# prepare: lib-run.sh run_fixture
# Many VMs at once and nothing left behind: 20 small VMs (128 MiB) run together, each
# answers an exec with its own hostname, and `stop` leaves no VMM process, socket or lock
# holder, and `rm` no directory; the same after SIGKILL of attached runs' CLIs and after a
# guest kernel panic.
set -eu
. "$(dirname "$0")/lib-run.sh"
run_setup
I=$RUN_IMAGE
N=20

vmm_procs() { pgrep -f "supermachine-vmm .*$WORK/store" | wc -l; }
sockets() { find "$SUPERMACHINE_HOME/vms" -name '*.sock' 2>/dev/null | wc -l; }

# The first run bakes the 128 MiB init-ready snapshot; the others restore it.
expect 0 "baked" -- run --rm -m 128m "$I" echo baked
t0=$(date +%s%N)
pids=()
for i in $(seq $N); do
    (rc=0; timeout -s KILL 600 "$SUPERMACHINE" run -d -m 128m --name "vm$i" "$I" sleep 100000 \
        >"$WORK/run$i" 2>&1 </dev/null || rc=$?; echo $rc >"$WORK/rs$i") &
    pids+=($!)
done
wait "${pids[@]}" || true
t1=$(date +%s%N)
for i in $(seq $N); do
    [ "$(cat "$WORK/rs$i")" = 0 ] || fail "run -d vm$i: status $(cat "$WORK/rs$i"): $(cat "$WORK/run$i")"
done
sm ps -q
[ "$(wc -l <"$OUT")" = $N ] || fail "ps lists $(wc -l <"$OUT") running VMs, want $N"
[ "$(vmm_procs)" = $N ] || fail "$(vmm_procs) VMM processes for $N VMs"
echo "$N VMs started together in $(((t1 - t0) / 1000000)) ms"
for i in $(seq $N); do
    sm exec "vm$i" cat /proc/sys/kernel/hostname
    [ "$RC" = 0 ] && [ -s "$OUT" ] || fail "exec in vm$i: $RC $(cat "$ERR")"
    echo "$(cat "$OUT")" >>"$WORK/hostnames"
done
[ "$(sort -u "$WORK/hostnames" | wc -l)" = $N ] || fail "hostnames not distinct: $(sort "$WORK/hostnames" | uniq -c | head)"
names=()
for i in $(seq $N); do names+=("vm$i"); done
sm stop -t 5 "${names[@]}"
[ "$RC" = 0 ] || fail "stop: $(cat "$ERR")"
for t in $(seq 50); do [ "$(vmm_procs)" = 0 ] && break; sleep 0.2; done
[ "$(vmm_procs)" = 0 ] || fail "$(vmm_procs) VMM processes left after stop"
[ "$(sockets)" = 0 ] || fail "sockets left after stop: $(find "$SUPERMACHINE_HOME/vms" -name '*.sock')"
sm ps -q
[ ! -s "$OUT" ] || fail "VMs still running after stop: $(cat "$OUT")"
sm rm "${names[@]}"
[ "$RC" = 0 ] || fail "rm: $(cat "$ERR")"
[ -z "$(ls "$SUPERMACHINE_HOME/vms" | grep -v '^\.')" ] || fail "VM directories left: $(ls "$SUPERMACHINE_HOME/vms")"
echo "$N VMs: distinct hostnames; after stop and rm no process, socket or directory left"

# The owner killed: attached runs whose CLI gets SIGKILL take their VMs with them (the
# VMM watches its owner through a pidfd), leaving no process or socket.
K=5
kpids=()
for i in $(seq $K); do
    "$SUPERMACHINE" run -m 128m --name "k$i" "$I" sleep 100000 </dev/null >/dev/null 2>&1 &
    kpids+=($!)
done
for t in $(seq 600); do
    [ "$("$SUPERMACHINE" ps -q | wc -l)" = $K ] && [ "$(vmm_procs)" = $K ] && break
    sleep 0.5
done
[ "$(vmm_procs)" = $K ] || fail "$(vmm_procs) VMM processes for $K attached runs"
sleep 2 # their main processes run (ps lists a VM once its VMM is up)
kill -9 "${kpids[@]}"
wait "${kpids[@]}" 2>/dev/null || true
for t in $(seq 100); do [ "$(vmm_procs)" = 0 ] && break; sleep 0.2; done
[ "$(vmm_procs)" = 0 ] || fail "$(vmm_procs) VMM processes left after SIGKILL of their CLIs"
[ "$(sockets)" = 0 ] || fail "sockets left after SIGKILL of the CLIs: $(find "$SUPERMACHINE_HOME/vms" -name '*.sock')"
sm ps -q
[ ! -s "$OUT" ] || fail "VMs still running after their CLIs were killed: $(cat "$OUT")"
knames=()
for i in $(seq $K); do knames+=("k$i"); done
sm rm "${knames[@]}"
[ "$RC" = 0 ] || fail "rm after SIGKILL: $(cat "$ERR")"
echo "$K attached runs whose CLI got SIGKILL: their VMs ended, nothing left"

# A guest kernel panic ends its VM: the run says so (125, the panic on its console) and
# nothing is left behind.
sm run -m 128m --name pan "$I" sh -c 'echo c >/proc/sysrq-trigger; sleep 100'
[ "$RC" = 125 ] && grep -qi "panic" "$ERR" || fail "a panicking guest: exit $RC, stderr $(cat "$ERR")"
for t in $(seq 100); do [ "$(vmm_procs)" = 0 ] && break; sleep 0.2; done
[ "$(vmm_procs)" = 0 ] && [ "$(sockets)" = 0 ] || fail "a process or socket left after a guest panic"
sm ps -a
grep -q "pan" "$OUT" && grep "pan" "$OUT" | grep -q "Exited (125)" || fail "ps after the panic: $(cat "$OUT")"
sm rm pan
[ "$RC" = 0 ] && [ -z "$(ls "$SUPERMACHINE_HOME/vms" | grep -v '^\.')" ] || fail "rm after the panic"
echo "a guest kernel panic: run exits 125 with the panic, nothing left"
