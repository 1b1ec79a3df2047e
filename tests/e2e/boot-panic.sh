#!/usr/bin/env bash
# needs: kvm
# timeout: 150
# A guest kernel panic ends the VM with a non-zero status and names the panic.
set -eu
. "$(dirname "$0")/lib-boot.sh"
out=$(mktemp)
trap 'rm -f "$out"' EXIT
rc=0
boot_guest "$out" --append "smtest=panic" || rc=$?
[ "$rc" = 1 ] || fail "exit status $rc, want 1"
grep -q "^supermachine: boot: guest kernel panic: Kernel panic - not syncing: Attempted to kill init" "$out" ||
    fail "the panic is not named on stderr"
