#!/usr/bin/env bash
# needs: kvm
# timeout: 900
# prepare: lib-run.sh run_fixture
# The VMM process is confined (docs/security.md): no_new_privs, no capabilities, no core
# dumps, bounded descriptors, a seccomp filter on every thread and a second one, its
# role's, on the vCPU, device and network threads, landlock around its files, a cgroup of
# its own with the VM's limits; and a confined VM does all a VM does: boots and bakes, is
# restored, runs exec, cp and network traffic, publishes a port, stops. The cgroup goes
# with `rm`. A VMM that saves a snapshot writes its own staging directory in the store's
# snapshots/ and nothing else there, and a snapshot renamed to another's key is refused.
set -eu
. "$(dirname "$0")/lib-run.sh"
run_setup
I=$RUN_IMAGE
snaps=$SUPERMACHINE_HOME/snapshots
# Init-ready snapshots (not the workload's "-w" ones), newest last.
snapshot_dirs() { ls -tr "$snaps" 2>/dev/null | grep -Ev -- '-w$|\.tmp-' || true; }

# A VMM that bakes (a first run at 256 MiB) is told to open a file beside the snapshots
# it saves (SUPERMACHINE_NET_PCAP, below): refused, and its snapshot is saved all the same.
SUPERMACHINE_NET_PCAP=$snaps/inside.pcap sm run -d --name c0 -m 256m "$I" sleep 600
[ "$RC" = 0 ] || fail "run -d c0: $RC $(cat "$ERR")"
id0=$(cat "$OUT")
for i in $(seq 120); do [ -n "$(snapshot_dirs)" ] && break; sleep 1; done
small=$(snapshot_dirs)
[ -n "$small" ] || fail "c0 saved no snapshot: $(cat "$SUPERMACHINE_HOME/vms/$id0/vmm.log")"
log0=$SUPERMACHINE_HOME/vms/$id0/vmm.log
if ! grep -q "landlock: not available" "$log0"; then
    grep -q "inside.pcap: Permission denied" "$log0" || fail "landlock: the pcap in snapshots/ was not refused: $(cat "$log0")"
    [ ! -e "$snaps/inside.pcap" ] || fail "landlock: the baking VMM created a file in snapshots/"
    echo "landlock: the baking VMM saved $small but could not open a file beside it"
fi
sm rm -f c0
[ "$RC" = 0 ] || fail "rm -f c0: $(cat "$ERR")"

expect 0 "baked" -- run --rm "$I" echo baked
big=$(snapshot_dirs | grep -vx "$small")
[ "$(echo "$big" | wc -l)" = 1 ] && [ -n "$big" ] || fail "snapshots after the second bake: $(ls "$snaps")"
p=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# SUPERMACHINE_NET_PCAP (docs/networking.md) makes the VMM open a file of our choosing
# once it is confined: outside its directory, landlock refuses it.
SUPERMACHINE_NET_PCAP=$WORK/outside.pcap sm run -d --name c1 -p "127.0.0.1:$p:8080" "$I" sh -c \
    'mkdir -p /www && echo confined >/www/index.html && exec httpd -f -p 8080 -h /www'
[ "$RC" = 0 ] || fail "run -d: $RC $(cat "$ERR")"
id=$(cat "$OUT")
pid=$(vmm_pid_of "$id")
[ -d "/proc/$pid" ] || fail "no VMM process $pid"
st=/proc/$pid/status
grep -q "^NoNewPrivs:[[:space:]]*1$" "$st" || fail "NoNewPrivs: $(grep NoNewPrivs "$st")"
grep -q "^Seccomp:[[:space:]]*2$" "$st" || fail "Seccomp: $(grep Seccomp "$st")"
for c in CapInh CapPrm CapEff CapBnd CapAmb; do
    grep -q "^$c:[[:space:]]*0000000000000000$" "$st" || fail "$c: $(grep "^$c" "$st")"
done
grep -q "^Max core file size *0 *0 " "/proc/$pid/limits" || fail "core dumps: $(grep core "/proc/$pid/limits")"
# Every thread filtered; the vCPU, device and network threads by their role's too.
roles=0
for t in /proc/"$pid"/task/*; do
    name=$(cat "$t/comm")
    n=$(sed -n 's/^Seccomp_filters:[[:space:]]*//p' "$t/status")
    [ "$(sed -n 's/^Seccomp:[[:space:]]*//p' "$t/status")" = 2 ] || fail "thread $name: not filtered"
    case $name in
    vcpu* | devices | net)
        [ "$n" -ge 2 ] || fail "thread $name: $n filters, want its role's on top"
        roles=$((roles + 1))
        ;;
    esac
done
[ "$roles" -ge 3 ] || fail "found $roles role threads (vcpu, devices, net)"
echo "VMM $pid: NoNewPrivs, no capabilities, no core dumps, $roles threads in their roles"
grep -q "^Max open files *4096 *4096 " "/proc/$pid/limits" || fail "descriptors: $(grep "open files" "/proc/$pid/limits")"
log=$SUPERMACHINE_HOME/vms/$id/vmm.log

# Landlock: the file the VMM was told to open outside its directory was refused.
if grep -q "landlock: not available" "$log"; then
    echo "landlock: not active on this kernel ($(grep landlock "$log")): not checked"
else
    grep -q "outside.pcap: Permission denied" "$log" || fail "landlock: the pcap outside was not refused: $(cat "$log")"
    [ ! -e "$WORK/outside.pcap" ] || fail "landlock: the VMM created $WORK/outside.pcap"
    echo "landlock: the VMM could not open a file outside its own"
fi

# Its cgroup: where cgroup v2 is mounted writable at the root (the emulated KVM host: a
# host without systemd, as root), the VM's own, with the VM's limits.
cg=$(sed -n 's/^0:://p' "/proc/$pid/cgroup")
if [ "$(id -u)" = 0 ] && [ "$(stat -f -c %T /sys/fs/cgroup)" = cgroup2fs ] && [ -w /sys/fs/cgroup/cgroup.procs ]; then
    case $cg in */supermachine-"${id:0:12}") ;; *) fail "cgroup: the VMM is in '$cg': $(cat "$log")" ;; esac
    d=/sys/fs/cgroup$cg
    [ "$(cat "$SUPERMACHINE_HOME/vms/$id/cgroup")" = "$d" ] || fail "cgroup: recorded $(cat "$SUPERMACHINE_HOME/vms/$id/cgroup"), is $d"
    mem=$(cat "$d/memory.max") pids=$(cat "$d/pids.max") cpu=$(cat "$d/cpu.max")
    over=$(((mem - 512 * 1024 * 1024) / 1024 / 1024))
    [ "$over" -ge 128 ] && [ "$over" -le 1024 ] || fail "cgroup: memory.max $mem: not 512 MiB and the overhead"
    [ "$pids" -ge 3 ] && [ "$pids" -le 64 ] || fail "cgroup: pids.max $pids"
    [ "$cpu" = "100000 100000" ] || fail "cgroup: cpu.max $cpu, want one CPU's"
    threads=$(ls "/proc/$pid/task" | wc -l)
    [ "$threads" -le "$pids" ] || fail "cgroup: $threads threads, pids.max $pids"
    echo "cgroup $cg: memory.max $((mem / 1024 / 1024)) MiB (guest 512 + $over), pids.max $pids ($threads threads), cpu.max $cpu"
    cgroup_dir=$d
else
    echo "cgroup: no writable cgroup v2 root here (the VMM is in '$cg'): not checked"
    cgroup_dir=
fi

# The confined VM works: the network, exec, cp, publishing, stop.
for i in $(seq 60); do page=$(curl -sf "http://127.0.0.1:$p/index.html") && break; sleep 1; done
[ "${page:-}" = confined ] || fail "curl through -p: '${page:-}'"
expect 0 "exec works" -- exec c1 sh -c 'echo exec works'
echo hello >"$WORK/f"
sm cp "$WORK/f" c1:/tmp/f
[ "$RC" = 0 ] || fail "cp in: $(cat "$ERR")"
sm cp c1:/tmp/f "$WORK/g"
[ "$RC" = 0 ] && cmp -s "$WORK/f" "$WORK/g" || fail "cp out: $(cat "$ERR")"
p2=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
sm port --publish "127.0.0.1:$p2:8080" c1
[ "$RC" = 0 ] || fail "port --publish: $(cat "$ERR")"
[ "$(curl -sf "http://127.0.0.1:$p2/index.html")" = confined ] || fail "curl the port published later"
# What the VMM holds beyond the guest's memory (the overhead memory.max allows for):
# every mapping but guest RAM's, and the cgroup's own account.
python3 - "$pid" "$cgroup_dir" <<'PY'
import sys
pid, cg = sys.argv[1], sys.argv[2]
size = rss = guest = 0
for line in open(f"/proc/{pid}/smaps"):
    f = line.split()
    if len(f) >= 5 and "-" in f[0] and ":" not in f[0]:
        lo, hi = (int(x, 16) for x in f[0].split("-"))
        size = hi - lo
    elif f[0] == "Rss:":
        kb = int(f[1])
        if 512 << 20 <= size <= 520 << 20:  # the guest's 512 MiB (ASan's shadow is far larger)
            guest += kb
        else:
            rss += kb
print(f"VMM memory: {rss // 1024} MiB resident beyond guest RAM ({guest // 1024} MiB of guest RAM resident)")
if cg:
    cur = int(open(f"{cg}/memory.current").read()) >> 20
    try:
        peak = int(open(f"{cg}/memory.peak").read()) >> 20
    except OSError:
        peak = "?"
    print(f"cgroup memory.current {cur} MiB, memory.peak {peak} MiB")
PY
sm stop c1
[ "$RC" = 0 ] || fail "stop: $(cat "$ERR")"
grep "seccomp" "$log" && fail "the filter refused a call: $(grep seccomp "$log")"
grep -i "denied" "$log" | grep -v outside.pcap && fail "the VMM was refused something: $(cat "$log")"
[ -z "$cgroup_dir" ] || ! grep "cgroup:" "$log" || fail "cgroup: $(cat "$log")"
sm rm c1
[ -z "$cgroup_dir" ] || [ ! -e "$cgroup_dir" ] || fail "cgroup: $cgroup_dir left after rm"
expect 0 "no network" -- run --rm --network none "$I" echo no network

# No staging directory is left behind, and a snapshot passed off as another (the 256 MiB
# guest's renamed to the key of the default-sized one, as a VMM allowed to rename in
# snapshots/ could) is refused: the run boots cold with the memory it asked for.
leftover=$(ls "$snaps" | grep -- '\.tmp-' || true)
[ -z "$leftover" ] || fail "staging directories left: $leftover"
rm -rf "${snaps:?}/$big"
mv "$snaps/$small" "$snaps/$big"
sm run --rm "$I" sh -c 'grep MemTotal /proc/meminfo'
[ "$RC" = 0 ] || fail "run with a renamed snapshot: $RC $(cat "$ERR")"
grep -q "saved under another name" "$ERR" || fail "the renamed snapshot was not refused: $(cat "$ERR")"
total=$(awk '/MemTotal/ {print int($2 / 1024)}' "$OUT")
[ "$total" -gt 300 ] || fail "the guest has $total MiB: the 256 MiB snapshot was restored"
echo "a renamed snapshot: refused ($(head -n 1 "$ERR")); booted cold with $total MiB"
echo ok
