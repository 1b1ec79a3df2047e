#!/usr/bin/env bash
# needs: kvm
# timeout: 150
# --cpus 4 brings 4 CPUs online; --memory 512 gives about 512 MiB of MemTotal.
set -eu
. "$(dirname "$0")/lib-boot.sh"
out=$(mktemp)
trap 'rm -f "$out"' EXIT
rc=0
boot_guest "$out" --cpus 4 --memory 512 --append "smtest=poweroff" || rc=$?
[ "$rc" = 0 ] || fail "exit status $rc, want 0"
line=$(grep -o "SMTEST-READY cpus=[0-9]* mem_kb=[0-9]*" "$out") || fail "no marker"
cpus=${line#*cpus=}; cpus=${cpus%% *}
mem=${line##*mem_kb=}
[ "$cpus" = 4 ] || fail "guest sees $cpus CPUs, want 4"
# MemTotal is RAM less what the kernel keeps for itself: between 85% and 100% of 512 MiB.
[ "$mem" -gt $((512 * 1024 * 85 / 100)) ] && [ "$mem" -le $((512 * 1024)) ] ||
    fail "MemTotal $mem kB is not about 512 MiB"
