#!/usr/bin/env bash
# On a host whose /dev/kvm has no hardware virtualization under it (no VMX or SVM: PVM,
# as on a nested cloud host), `boot` and `run` refuse at once with one line naming
# /dev/kvm and why, exit 125, instead of starting a guest that would look hung (PVM
# runs an unmodified kernel only by emulating it, minutes for its decompressor alone).
# Runs natively; skipped where the CPU has VMX/SVM or there is no /dev/kvm.
set -eu
. "$(dirname "$0")/lib-boot.sh"
[ -w /dev/kvm ] || { echo "no usable /dev/kvm here"; exit 77; }
if grep -qwE 'vmx|svm' /proc/cpuinfo; then
    echo "this CPU has hardware virtualization: nothing to refuse"
    exit 77
fi
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
want="/dev/kvm: this host's CPU has no hardware virtualization (neither VMX nor SVM)"

rc=0
start=$(date +%s)
timeout -s KILL 60 "$SUPERMACHINE" boot --initrd "$(boot_test_initrd)" </dev/null >"$dir/out" 2>"$dir/err" || rc=$?
cat "$dir/err"
[ $rc = 125 ] || { echo "FAIL boot: exit $rc, want 125"; exit 1; }
[ "$(wc -l <"$dir/err")" = 1 ] || { echo "FAIL boot: not one line"; exit 1; }
grep -qF "supermachine: boot: $want" "$dir/err" || { echo "FAIL boot: wrong message"; exit 1; }
[ $(($(date +%s) - start)) -lt 30 ] || { echo "FAIL boot: took $(($(date +%s) - start)) s to refuse"; exit 1; }
[ ! -s "$dir/out" ] || { echo "FAIL boot: the guest printed something"; exit 1; }

# A guest kernel made for such a host could run, so the check can be waived; then the
# VM is created (and killed here after a moment: Debian's kernel would take minutes).
rc=0
SUPERMACHINE_ALLOW_SOFTWARE_KVM=1 timeout -s KILL 5 "$SUPERMACHINE" boot --initrd "$(boot_test_initrd)" \
    </dev/null >"$dir/out" 2>"$dir/err" || rc=$?
if grep -qF "$want" "$dir/err"; then
    echo "FAIL: SUPERMACHINE_ALLOW_SOFTWARE_KVM=1 did not waive the check"
    exit 1
fi
[ $rc = 137 ] || [ $rc = 0 ] || { cat "$dir/err"; echo "FAIL waived boot: exit $rc"; exit 1; }
echo "PASS"
