#!/usr/bin/env bash
# needs: kvm
# timeout: 400
# A ticking guest (1 GiB, 1 and 2 vCPUs) is snapshotted at its 4th tick and restored twice
# in turn and twice at once. Each restore continues the counter at the next tick, sees
# the same CPU count, ticks on to the guest's poweroff and exits 0. Its clock never goes back, moves forward by at least the time the
# snapshot spent on disk, and ends no further from the host's wall clock than it was
# before the snapshot, plus a second: natively (guest in step with the host) that is
# "within a second of the host's". Under the emulated host the guest's TSC-based clock
# drifts from the host's during boot (seen: tens of seconds), which the restore corrects
# towards the host's, never away from it.
# The memory file is sparse: a 1 GiB guest gives far less than 1 GiB on disk.
set -eu
. "$(dirname "$0")/lib-boot.sh"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

# Each console line gets the host's wall clock in front of it, so the guest's own clock
# can be compared with the host's at the same moment.
stamp() { while IFS= read -r l; do printf '%s %s\n' "$(date +%s.%N)" "$l"; done; }

# offset FILE: guest time minus host time (seconds) on the first TICK line of FILE.
offset() {
    awk '/ TICK [0-9]+ cpus=.*time=[0-9]/ { split($0, a, "time="); if (a[2] ~ /^[0-9]+\.[0-9]+[ \r]*$/) { printf "%.3f\n", a[2] - $1; exit } }' "$1"
}
first_tick() { grep -o 'TICK [0-9]* cpus=[0-9]*' "$1" | head -n 1; }

for cpus in 1 2; do
    snap=$dir/snap$cpus
    out=$dir/boot$cpus.log
    {
        rc=0
        timeout -s KILL 300 "$SUPERMACHINE" boot --initrd "$(boot_test_initrd)" --cpus $cpus \
            --memory 1024 --append "smtest=tick smtest_ticks=8" --snapshot "$snap" \
            --snapshot-when "console:TICK 3 " </dev/null || rc=$?
        echo "${rc:-0}" >"$dir/boot$cpus.rc"
    } 2>&1 | stamp >"$out"
    rc=$(cat "$dir/boot$cpus.rc")
    [ "$rc" = 0 ] || fail "snapshot boot ($cpus vCPUs) exit $rc"
    [ -f "$snap/snapshot.meta" ] && [ -f "$snap/memory" ] || fail "no snapshot files in $snap"
    grep -q "TICK 3 cpus=$cpus " "$out" || fail "no TICK 3 with $cpus CPUs before the snapshot"
    grep -q "TICK 4 " "$out" && fail "the guest ran on past the snapshot point"
    before=$(awk '/ TICK 3 cpus=/ { split($0, a, "time="); printf "%.3f\n", a[2] - $1; exit }' "$out")
    t3=$(awk '/ TICK 3 cpus=/ { split($0, a, "time="); print a[2]; exit }' "$out")

    size=$(stat -c %s "$snap/memory")
    used_kb=$(du -k "$snap/memory" | cut -f1)
    [ "$size" = $((1024 << 20)) ] || fail "memory file is $size bytes, want 1 GiB"
    [ "$used_kb" -lt $((300 * 1024)) ] || fail "memory file uses $used_kb KiB on disk: not sparse"
    echo "snapshot ($cpus vCPUs): memory file 1024 MiB, $((used_kb / 1024)) MiB on disk"

    sleep 3 # time on disk that the restore must add back to the guest's clock
    # The guest powers off after TICK 7, so each restore must end by itself with status 0.
    restore() { # restore RUN: one restore, its console in r<cpus><run>.log, its status in .rc
        {
            local rc=0
            timeout -s KILL 120 "$SUPERMACHINE" boot --restore "$snap" </dev/null || rc=$?
            echo $rc >"$dir/r$cpus$1.rc"
        } 2>&1 | stamp >"$dir/r$cpus$1.log"
    }
    restore a
    restore b
    restore c &
    restore d &
    wait
    for run in a b c d; do
        log=$dir/r$cpus$run.log
        out=$log
        [ "$(cat "$dir/r$cpus$run.rc")" = 0 ] ||
            fail "restore $run ($cpus vCPUs) exit $(cat "$dir/r$cpus$run.rc"), want 0 after the guest's poweroff"
        grep -q "TICK 7 cpus=$cpus " "$log" || fail "restore $run ($cpus vCPUs) did not tick to the end"
        [ "$(first_tick "$log")" = "TICK 4 cpus=$cpus" ] ||
            fail "restore $run ($cpus vCPUs) did not continue at TICK 4 with $cpus CPUs"
        after=$(offset "$log")
        # The first tick after the restore whose time survived whole: the kernel's own
        # console lines ("crng reseeded due to virtual machine fork") can cut one in two.
        t4=$(awk '/ TICK [4-7] cpus=.*time=[0-9]/ { split($0, a, "time="); if (a[2] ~ /^[0-9]+\.[0-9]+[ \r]*$/) { print a[2]; exit } }' "$log")
        awk -v t3="$t3" -v t4="$t4" 'BEGIN { exit !(t4 - t3 >= 3.0) }' ||
            fail "restore $run: guest clock moved $t3 -> $t4 across the restore: the 3 s on disk were not added"
        awk -v a="$after" -v b="$before" 'BEGIN { if (a < 0) a = -a; if (b < 0) b = -b; exit !(a <= b + 1.0) }' ||
            fail "restore $run: guest clock is $after s from the host's, was $before s before the snapshot"
        echo "restore $run ($cpus vCPUs): continues at TICK 4; guest clock $t3 -> $t4, offset from host $after s (was $before s)"
    done
done
