#!/usr/bin/env bash
# needs: kvm
# timeout: 150
# A guest that reboots ends the VM with exit status 0.
set -eu
. "$(dirname "$0")/lib-boot.sh"
out=$(mktemp)
trap 'rm -f "$out"' EXIT
rc=0
boot_guest "$out" --append "smtest=reboot" || rc=$?
[ "$rc" = 0 ] || fail "exit status $rc, want 0"
grep -q "SMTEST-READY" "$out" || fail "no marker"
grep -q "reboot: Restarting system" "$out" || fail "the kernel did not report a restart"
