# Helpers for the bare-kernel boot tests. Source after setting -eu.
# The guest is the store's default kernel (Debian's, fetched by scripts/setup or
# tests/run) with the test init of tests/fixtures/testinit.c as its initramfs.

SM_REPO=${SM_REPO:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
SUPERMACHINE=${SUPERMACHINE:-$SM_REPO/build/supermachine}

# The test initramfs: built by meson next to the binary under test.
boot_test_initrd() {
    local d
    for d in "$(dirname "$SUPERMACHINE")" "$SM_REPO/build-asan" "$SM_REPO/build"; do
        if [ -f "$d/tests/fixtures/testinit.cpio.gz" ]; then
            echo "$d/tests/fixtures/testinit.cpio.gz"
            return 0
        fi
    done
    echo "no testinit.cpio.gz: build the project first" >&2
    return 1
}

# boot_guest OUTFILE [supermachine boot args...]: boots with a bound on the run time;
# stdout+stderr go to OUTFILE; returns supermachine's exit status.
boot_guest() {
    local out=$1
    shift
    local rc=0
    timeout -s KILL "${BOOT_TIMEOUT:-120}" "$SUPERMACHINE" boot --initrd "$(boot_test_initrd)" "$@" \
        >"$out" 2>&1 </dev/null || rc=$?
    return $rc
}

fail() {
    echo "FAIL: $*" >&2
    [ -n "${out:-}" ] && [ -f "$out" ] && tail -n 30 "$out" >&2
    exit 1
}

# initrd_with_modules OUT MODULE...: an initramfs of the test init plus these modules
# (paths under the kernel's modules tree, without .ko, in load order), listed in /modules
# for the test init's "devices"/"vsock" modes to load.
initrd_with_modules() {
    local out=$1 modules init root list="" m
    shift
    modules=$("$SUPERMACHINE" kernel --modules)
    init=$(dirname "$(boot_test_initrd)")/testinit
    [ -x "$init" ] || fail "no testinit binary beside the initramfs"
    root=$(mktemp -d)
    mkdir -p "$root/lib"
    for m in "$@"; do
        cp "$modules/kernel/$m.ko" "$root/lib/"
        list+="/lib/$(basename "$m").ko"$'\n'
    done
    printf '%s' "$list" >"$root/modules"
    cp "$init" "$root/init"
    (cd "$root" && find . | cpio -o -H newc --quiet -R 0:0) | gzip -1 >"$out"
    rm -rf "$root"
}
