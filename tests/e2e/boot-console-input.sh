#!/usr/bin/env bash
# needs: kvm
# timeout: 150
# Input piped in before the guest reads it is kept until the guest's UART listens, and
# reaches the guest's program.
set -eu
. "$(dirname "$0")/lib-boot.sh"
out=$(mktemp)
trap 'rm -f "$out"' EXIT
rc=0
printf 'hello-from-the-host 12345\n' | timeout -s KILL 120 "$SUPERMACHINE" boot \
    --initrd "$(boot_test_initrd)" --append "smtest=echo" >"$out" 2>&1 || rc=$?
[ "$rc" = 0 ] || fail "exit status $rc, want 0"
grep -q "GOT: hello-from-the-host 12345" "$out" || fail "the guest did not receive the input"
