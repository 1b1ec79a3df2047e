#!/usr/bin/env bash
# needs: kvm
# timeout: 150
# A 1-vCPU guest boots Debian's kernel to the test init's marker and powers off: exit 0.
set -eu
. "$(dirname "$0")/lib-boot.sh"
out=$(mktemp)
trap 'rm -f "$out"' EXIT
rc=0
boot_guest "$out" --append "smtest=poweroff" || rc=$?
[ "$rc" = 0 ] || fail "exit status $rc, want 0"
grep -q "SMTEST-READY cpus=1 " "$out" || fail "no marker with cpus=1"
grep -q "reboot: Power down" "$out" || fail "the kernel did not report power down"
