#!/bin/bash
# Flattening against `umoci unpack` (as root) as the reference: a three-layer image with
# whiteouts, an opaque directory, hardlinks (also across layers), symlinks, setuid/setgid/
# sticky modes, devices, a fifo, xattrs (user.* and security.capability), big uids and
# mtimes. Our exported tar (extracted as root) and our EROFS image (mounted, or extracted
# by fsck.erofs where loop mounts are not allowed) must list exactly as the reference.
set -eu
. "$(dirname "$0")/lib-flatten.sh"
flat_setup
flat_fixture

timeout 300 "$SM_FLATTEN" -v -t multi --erofs "$WORK/img.erofs" --tar "$WORK/out.tar" \
    "$FIX/oci" 2>"$WORK/stats" || { cat "$WORK/stats" >&2; fail "sm-flatten"; }
cat "$WORK/stats"
timeout 120 fsck.erofs "$WORK/img.erofs" >"$WORK/fsck.log" 2>&1 ||
    { cat "$WORK/fsck.log" >&2; fail "fsck.erofs rejects our image"; }

flat_list "$FIX/ref/rootfs" >"$WORK/ref.list"
grep -q '^opq/new-upper ' "$WORK/ref.list" || fail "fixture lacks the opaque layer"

# The tar: extracted as root with owners, modes, devices and xattrs.
mkdir "$WORK/fromtar"
timeout 120 tar --xattrs --xattrs-include='*' --numeric-owner -xpf "$WORK/out.tar" \
    -C "$WORK/fromtar" 2>"$WORK/tar.err" || { cat "$WORK/tar.err" >&2; fail "tar -x of our export"; }
flat_list "$WORK/fromtar" >"$WORK/tar.list"
diff -u "$WORK/ref.list" "$WORK/tar.list" >&2 || fail "exported tar differs from umoci unpack"

# The EROFS image, through the kernel when we can.
if flat_try_mount "$WORK/img.erofs" "$WORK/mnt"; then
    flat_list "$WORK/mnt" >"$WORK/erofs.list"
    diff -u "$WORK/ref.list" "$WORK/erofs.list" >&2 || fail "mounted EROFS image differs from umoci unpack"
    # Directory link counts and statfs: what fsck does not look at.
    [ "$(stat -c %h "$WORK/mnt/opq")" = 2 ] || fail "nlink of a leaf directory"
    [ "$(stat -c %h "$WORK/mnt/bin")" = "$(stat -c %h "$FIX/ref/rootfs/bin")" ] || fail "nlink of /bin"
    echo "compared through a loop mount"
else
    # fsck.erofs 1.5 --extract keeps contents, owners and links but not hardlinks,
    # setuid bits or xattrs: compare what it keeps.
    timeout 120 fsck.erofs --extract="$WORK/ex" "$WORK/img.erofs" >/dev/null 2>&1 ||
        fail "fsck.erofs --extract"
    export LIST_NO_LINKS=1 LIST_NO_XATTRS=1 LIST_PERM_MASK=0777 LIST_NO_MTIME_DIRS=1
    flat_list "$FIX/ref/rootfs" >"$WORK/ref2.list"
    flat_list "$WORK/ex" >"$WORK/ex.list"
    diff -u "$WORK/ref2.list" "$WORK/ex.list" >&2 || fail "fsck.erofs --extract differs from umoci unpack"
    echo "compared through fsck.erofs --extract (no loop mount here)"
fi
echo "PASS: flatten matches umoci unpack ($(wc -l <"$WORK/ref.list") entries)"
