#!/bin/bash
# Flattening as an unprivileged user (uid 65534): owners, devices, setuid bits, xattrs and
# hardlinks must still come out as the layers say, since nothing is staged on the host.
set -eu
. "$(dirname "$0")/lib-flatten.sh"
flat_setup
command -v setpriv >/dev/null || { echo "skip: setpriv not installed" >&2; exit 77; }
flat_fixture
# The cache may sit under root's home: give the unprivileged user its own copy.
cp -a "$FIX/oci" "$WORK/oci"
chmod -R a+rX "$WORK/oci"
mkdir "$WORK/out" && chown 65534:65534 "$WORK/out"
# Reach the build tree even if it lives under a private home: run a copy of the tool.
cp "$SM_FLATTEN" "$WORK/sm-flatten"
LIBDIR=$(dirname "$(ldd "$SM_FLATTEN" | awk '/libsupermachine/ {print $3}')")
cp "$LIBDIR"/libsupermachine.so "$LIBDIR/supermachine-io.so" "$WORK/"
chmod -R a+rX "$WORK"
timeout 300 env TMPDIR="$WORK/out" LD_LIBRARY_PATH="$WORK" \
    setpriv --reuid=65534 --regid=65534 --clear-groups \
    "$WORK/sm-flatten" -t multi --erofs "$WORK/out/img.erofs" "$WORK/oci" \
    2>"$WORK/err" || { cat "$WORK/err" >&2; fail "sm-flatten as uid 65534"; }
[ "$(stat -c %u "$WORK/out/img.erofs")" = 65534 ] || fail "image not written by uid 65534"
timeout 120 fsck.erofs "$WORK/out/img.erofs" >/dev/null 2>&1 || fail "fsck.erofs rejects the image"

# (The tar export as an unprivileged user is checked through the CLI in oci-export.sh.)
flat_list "$FIX/ref/rootfs" >"$WORK/ref.list"
if flat_try_mount "$WORK/out/img.erofs" "$WORK/mnt"; then
    flat_list "$WORK/mnt" >"$WORK/erofs.list"
    diff -u "$WORK/ref.list" "$WORK/erofs.list" >&2 || fail "unprivileged EROFS image differs"
    grep -q '^dev/sda b 0644 0:0 dev=8,0' "$WORK/erofs.list" || fail "block device lost"
else
    timeout 120 fsck.erofs --extract="$WORK/ex" "$WORK/out/img.erofs" >/dev/null 2>&1 ||
        fail "fsck.erofs --extract"
    export LIST_NO_LINKS=1 LIST_NO_XATTRS=1 LIST_PERM_MASK=0777 LIST_NO_MTIME_DIRS=1
    diff -u <(flat_list "$FIX/ref/rootfs") <(flat_list "$WORK/ex") >&2 ||
        fail "unprivileged EROFS image (fsck.erofs --extract) differs"
fi
echo "PASS: an unprivileged flatten writes an EROFS image with owners, devices, modes and xattrs"
