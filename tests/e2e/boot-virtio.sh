#!/usr/bin/env bash
# needs: kvm
# timeout: 150
# The guest's own virtio drivers (Debian's modules, found through the ACPI DSDT) drive our
# virtio-mmio devices: virtio-rng is the hwrng in use and returns bytes; virtio-blk shows
# an EROFS image read-only, which the guest mounts, reading a small and a 4 MiB file whose
# checksum must match the host's.
set -eu
. "$(dirname "$0")/lib-boot.sh"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
# Initramfs: the test init plus the modules, in load order.
initrd_with_modules "$dir/initrd" drivers/virtio/virtio_ring drivers/virtio/virtio drivers/virtio/virtio_mmio \
    drivers/block/virtio_blk drivers/char/hw_random/virtio-rng crypto/crc32c_generic \
    lib/libcrc32c fs/erofs/erofs

# The disk: an EROFS image made by erofs-utils.
mkdir "$dir/fs"
echo "hello from an erofs disk" >"$dir/fs/hello.txt"
head -c $((4 << 20)) /dev/urandom >"$dir/fs/big.bin"
mkfs.erofs "$dir/disk.erofs" "$dir/fs" >/dev/null 2>&1
want=$(python3 -c '
import sys
s = 0
for b in open(sys.argv[1], "rb").read():
    s = (s * 31 + b) & 0xffffffffffffffff
print(s)' "$dir/fs/big.bin")

out=$dir/out
rc=0
timeout -s KILL 120 "$SUPERMACHINE" boot --initrd "$dir/initrd" --disk "$dir/disk.erofs" \
    --append "smtest=devices" </dev/null >"$out" 2>&1 || rc=$?
[ "$rc" = 0 ] || fail "exit status $rc"
grep -q "SMTEST-MODULE-FAILED" "$out" && fail "a module did not load"
grep -q "^SMTEST-RNG=virtio_rng" "$out" || fail "virtio-rng is not the hwrng"
grep -Eq "^SMTEST-RNG-BYTES=[0-9a-f]{64}" "$out" || fail "no bytes from /dev/hwrng"
sectors=$(($(stat -c %s "$dir/disk.erofs") / 512))
grep -q "^SMTEST-VDA-SECTORS=$sectors" "$out" || fail "vda does not have $sectors sectors"
grep -q "^SMTEST-VDA-RO=1" "$out" || fail "vda is not read-only"
grep -q "^SMTEST-HELLO=hello from an erofs disk" "$out" || fail "the guest did not read hello.txt"
grep -q "^SMTEST-BIG bytes=$((4 << 20)) sum=$want" "$out" || fail "big.bin read wrong in the guest"
