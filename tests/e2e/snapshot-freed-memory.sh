#!/usr/bin/env bash
# needs: kvm
# timeout: 600
# Memory the guest freed does not bloat its snapshot. The kernel command line of a guest
# that will be snapshotted carries init_on_free=1 (src/vmm/vm.c), so the guest kernel
# zeroes the pages it frees and the snapshot writer leaves them as holes in the memory
# file. A 512 MiB guest fills
# 300 MiB with pseudo-random bytes (half anonymous memory, half a tmpfs file), frees it,
# and is snapshotted: the memory file's allocated blocks must stay far below 300 MiB.
# The control run appends init_on_free=0 (the last one wins) and must keep most of the
# 300 MiB: it shows the measure sees freed data when nothing zeroes it. The sparse
# snapshot restores and runs on to the guest's poweroff.
set -eu
. "$(dirname "$0")/lib-boot.sh"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
mb=300

# snapshot NAME EXTRA_APPEND: boots, fills and frees, snapshots into $dir/NAME; prints the
# memory file's allocated bytes.
snapshot() {
    out=$dir/$1.log
    local rc=0
    boot_guest "$out" --memory 512 --append "smtest=memfree smtest_mb=$mb smtest_ticks=30 $2" \
        --snapshot "$dir/$1" --snapshot-when "console:SMTEST-FREED" || rc=$?
    [ "$rc" = 0 ] || fail "$1: snapshot boot exit $rc"
    grep -q "SMTEST-FREED mb=$mb" "$out" || fail "$1: the guest did not fill and free ${mb} MiB"
    [ -f "$dir/$1/memory" ] || fail "$1: no memory file"
    echo $(($(stat -c %b "$dir/$1/memory") * 512))
}

BOOT_TIMEOUT=300
used=$(snapshot freed "")
out=$dir/freed.log
# The guest kernel took the parameter: it reports freed pages zeroed, and did not pass
# init_on_free on to init as an unknown parameter.
grep -q "mem auto-init: .*heap free:on" "$out" || fail "the guest kernel does not zero freed pages: $(grep 'mem auto-init' "$out")"
grep -q "Unknown kernel command line parameters.*init_on_free" "$out" && fail "the guest kernel does not know init_on_free"
echo "with init_on_free=1: ${mb} MiB written and freed, memory file holds $((used >> 20)) MiB"

control=$(snapshot control "init_on_free=0")
out=$dir/control.log
grep -q "mem auto-init: .*heap free:off" "$out" || fail "control: init_on_free=0 was not taken: $(grep 'mem auto-init' "$out")"
echo "with init_on_free=0: ${mb} MiB written and freed, memory file holds $((control >> 20)) MiB"
rm -rf "$dir/control"

[ "$control" -gt $(((mb * 2 / 3) << 20)) ] ||
    fail "control: without init_on_free the memory file holds only $((control >> 20)) MiB: the test cannot see freed data"
[ "$used" -lt $(((mb / 3) << 20)) ] ||
    fail "the memory file holds $((used >> 20)) MiB after ${mb} MiB were freed: freed pages are not holes"

# The sparse snapshot is a working one: it ticks on to the guest's poweroff.
out=$dir/restore.log
rc=0
timeout -s KILL 120 "$SUPERMACHINE" boot --restore "$dir/freed" >"$out" 2>&1 </dev/null || rc=$?
[ "$rc" = 0 ] || fail "restore exit $rc, want 0 after the guest's poweroff"
grep -q "TICK 29 " "$out" || fail "the restored guest did not tick to the end"
