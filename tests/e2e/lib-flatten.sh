# Helpers for the flattening tests: a multi-layer OCI layout built with umoci (as root:
# devices, owners and xattrs need it) from Debian's busybox-static, its reference unpack
# by `umoci unpack` (as root, not --rootless), and a listing of a tree that two trees
# are compared by. The fixture is cached in $SM_TEST_CACHE, keyed by this file's hash.
# Source after `set -eu`; call flat_setup first (it makes $WORK and traps cleanup).

SM_REPO=${SM_REPO:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
SM_TEST_CACHE=${SM_TEST_CACHE:-$HOME/.cache/supermachine-tests}
[ -f "$SM_REPO/tests/e2e/lib.sh" ] && . "$SM_REPO/tests/e2e/lib.sh"
SM_FLATTEN=${SM_FLATTEN:-$SM_REPO/build/tests/tools/sm-flatten}
FLAT_MOUNTS=""

fail() {
    echo "FAIL: $*" >&2
    exit 1
}

flat_cleanup() {
    local m
    for m in $FLAT_MOUNTS; do umount "$m" 2>/dev/null || true; done
    [ -n "${WORK:-}" ] && rm -rf "$WORK"
}

flat_setup() {
    local t
    for t in umoci busybox python3 fsck.erofs setfattr setcap tar; do
        command -v "$t" >/dev/null 2>&1 || { echo "skip: $t not installed" >&2; exit 77; }
    done
    [ "$(id -u)" = 0 ] || { echo "skip: building the fixture needs root (mknod, chown)" >&2; exit 77; }
    [ -x "$SM_FLATTEN" ] || { echo "skip: no sm-flatten at $SM_FLATTEN (build first)" >&2; exit 77; }
    WORK=$(mktemp -d /tmp/sm-flatten.XXXXXX)
    chmod 755 "$WORK"
    trap flat_cleanup EXIT
}

# Populates the first layer's tree: every kind of entry the flattening must keep.
flat_populate1() {
    local r=$1
    mkdir -p "$r"/{bin,etc,usr/bin,dev,tmp,opq/lowersub,var/many,data,etc/dir-to-delete}
    cp /bin/busybox "$r/bin/busybox"
    ln -s busybox "$r/bin/sh"
    ln "$r/bin/busybox" "$r/bin/ls"
    ln "$r/bin/busybox" "$r/bin/cat"
    printf 'root:x:0:0:root:/root:/bin/sh\n' >"$r/etc/passwd"
    printf 'root:x:0:\n' >"$r/etc/group"
    echo host >"$r/etc/hostname"
    echo old >"$r/etc/old-file"
    echo a >"$r/etc/dir-to-delete/a"
    echo l1 >"$r/opq/lower1"
    echo x >"$r/opq/lowersub/x"
    cp /bin/busybox "$r/usr/bin/su" && chmod 4755 "$r/usr/bin/su"
    echo wall >"$r/usr/bin/wall" && chmod 2755 "$r/usr/bin/wall"
    chmod 1777 "$r/tmp"
    mknod "$r/dev/null" c 1 3 && chmod 666 "$r/dev/null"
    mknod "$r/dev/sda" b 8 0
    mknod "$r/dev/big-minor" c 250 1000000
    mkfifo "$r/dev/fifo"
    echo owned >"$r/data/u1000" && chown 1000:1000 "$r/data/u1000"
    echo big >"$r/data/u100000" && chown 100000:100001 "$r/data/u100000"
    echo nobody >"$r/data/nobody" && chown 65534:65534 "$r/data/nobody"
    echo x >"$r/data/xattr" && setfattr -n user.test -v hello "$r/data/xattr"
    setfattr -n user.bin -v 0x00ff00 "$r/data/xattr"
    cp /bin/busybox "$r/data/ping" && setcap cap_net_raw+ep "$r/data/ping"
    head -c 3000000 /dev/urandom >"$r/data/random3m"
    head -c 4096 /dev/urandom >"$r/data/exact4096"
    head -c 8191 /dev/urandom >"$r/data/odd8191"
    : >"$r/data/empty"
    echo sp >"$r/data/name with space"
    echo u >"$r/data/ünïcödé"
    ln -s "$(printf 'x%.0s' $(seq 300))" "$r/data/longlink"
    ln -s /etc/passwd "$r/data/abslink"
    touch -h -d '2001-02-03 04:05:06.123456789' "$r/data/u1000" "$r/data/abslink"
    touch -d '1970-01-01 00:00:00' "$r/data/nobody"
    local i
    mkdir -p "$r/var/todir" && echo f >"$r/var/todir/f"
    for i in $(seq 600); do echo "$i" >"$r/var/many/file-with-a-long-name-$i"; done
    touch -d '2020-01-01' "$r/data"
}

flat_populate2() {
    local r=$1
    rm -f "$r/etc/old-file"
    rm -rf "$r/etc/dir-to-delete"
    printf 'root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000::/home/user:/bin/sh\n' >"$r/etc/passwd"
    echo new >"$r/etc/new-file"
    chmod 700 "$r/var/many"
    ln "$r/etc/new-file" "$r/etc/new-file-link"
    rm "$r/var/many/file-with-a-long-name-7"
}

# A hand-written third layer: an opaque directory, whiteouts, replacements.
flat_layer3() {
    python3 - "$1" <<'PY'
import io, sys, tarfile
t = tarfile.open(sys.argv[1], "w", format=tarfile.PAX_FORMAT)
def add(name, typ=tarfile.REGTYPE, data=b"", mode=0o644, link="", mtime=1600000000, uid=0, gid=0):
    ti = tarfile.TarInfo(name); ti.type = typ; ti.mode = mode; ti.mtime = mtime
    ti.uid, ti.gid = uid, gid; ti.linkname = link; ti.size = len(data) if typ == tarfile.REGTYPE else 0
    t.addfile(ti, io.BytesIO(data) if typ == tarfile.REGTYPE else None)
add("opq", tarfile.DIRTYPE, mode=0o755)
add("opq/new-upper", data=b"upper\n")
add("opq/.wh..wh..opq")
add("usr/bin/.wh.wall")
add("etc/hostname", tarfile.DIRTYPE, mode=0o750)   # a file replaced by a directory
add("etc/hostname/inside", data=b"inside\n", uid=7, gid=8)
add("var/todir", tarfile.SYMTYPE, link="/tmp", mode=0o777)  # a directory replaced by a symlink
add("bin/newhard", tarfile.LNKTYPE, link="bin/busybox")    # a hardlink to a lower layer's file
add("data/.wh.empty")
add("data/.wh.empty-never-existed")
t.close()
PY
}

# Builds (or reuses) the fixture; sets FIX (layout at $FIX/oci, tag "multi"; reference
# rootfs at $FIX/ref/rootfs).
flat_fixture() {
    local key
    key=$(sha256sum "${BASH_SOURCE[0]}" | cut -c1-16)
    FIX=$SM_TEST_CACHE/flatten-$key
    [ -f "$FIX/done" ] && return 0
    mkdir -p "$SM_TEST_CACHE"
    local tmp
    tmp=$(mktemp -d "$SM_TEST_CACHE/.flatten-build.XXXXXX")
    (
        set -e
        cd "$tmp"
        umoci init --layout oci
        umoci new --image oci:multi
        umoci unpack --image oci:multi b
        flat_populate1 b/rootfs
        umoci repack --image oci:multi b
        rm -rf b
        umoci unpack --image oci:multi b
        flat_populate2 b/rootfs
        umoci repack --image oci:multi b
        rm -rf b
        flat_layer3 l3.tar
        umoci raw add-layer --image oci:multi l3.tar
        rm l3.tar
        umoci gc --layout oci
        umoci unpack --image oci:multi ref
    ) >"$tmp/build.log" 2>&1 || { cat "$tmp/build.log" >&2; rm -rf "$tmp"; fail "building the fixture"; }
    touch "$tmp/done"
    chmod 755 "$tmp"
    rm -rf "$FIX"
    mv "$tmp" "$FIX" 2>/dev/null || { rm -rf "$tmp"; [ -f "$FIX/done" ] || fail "fixture race"; }
}

# Prints one line per entry under DIR: path, type, mode, owner, size, content hash, link
# target, device numbers, xattrs, mtime; then the groups of hardlinked names.
# Options (env): LIST_NO_MTIME_DIRS=1, LIST_NO_LINKS=1 (hardlink groups),
# LIST_NO_XATTRS=1, LIST_PERM_MASK (default 07777).
flat_list() {
    python3 - "$1" <<'PY'
import hashlib, os, stat, sys
root = sys.argv[1]
no_dir_mtime = os.environ.get("LIST_NO_MTIME_DIRS") == "1"
no_links = os.environ.get("LIST_NO_LINKS") == "1"
no_xattrs = os.environ.get("LIST_NO_XATTRS") == "1"
mask = int(os.environ.get("LIST_PERM_MASK", "07777"), 8)
inodes = {}
out = []
for dirpath, dirs, files in os.walk(root):
    dirs.sort()
    for name in sorted(dirs + files):
        p = os.path.join(dirpath, name)
        rel = os.path.relpath(p, root)
        st = os.lstat(p)
        m = st.st_mode
        f = [rel, stat.filemode(m)[0], "%04o" % (stat.S_IMODE(m) & mask), "%d:%d" % (st.st_uid, st.st_gid)]
        if stat.S_ISREG(m):
            h = hashlib.sha256()
            with open(p, "rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    h.update(chunk)
            f += ["size=%d" % st.st_size, h.hexdigest()[:16]]
            if st.st_nlink > 1:
                inodes.setdefault((st.st_dev, st.st_ino), []).append(rel)
        elif stat.S_ISLNK(m):
            f.append("-> " + os.readlink(p))
        elif stat.S_ISCHR(m) or stat.S_ISBLK(m):
            f.append("dev=%d,%d" % (os.major(st.st_rdev), os.minor(st.st_rdev)))
        if not no_xattrs:
            try:
                xs = sorted(os.listxattr(p, follow_symlinks=False))
            except OSError:
                xs = []
            for x in xs:
                f.append("%s=%s" % (x, os.getxattr(p, x, follow_symlinks=False).hex()))
        if not (no_dir_mtime and stat.S_ISDIR(m)):
            f.append("mtime=%d" % st.st_mtime_ns)
        out.append(" ".join(f))
if not no_links:
    for g in sorted(sorted(v) for v in inodes.values()):
        out.append("hardlinks: " + " ".join(g))
print("\n".join(out))
PY
}

# Mounts an EROFS image read-only at DIR if this host allows it (returns 1 otherwise;
# SM_FLATTEN_NO_MOUNT=1 forces the fallback).
flat_try_mount() {
    mkdir -p "$2"
    [ "${SM_FLATTEN_NO_MOUNT:-}" = 1 ] && return 1
    if mount -t erofs -o loop,ro "$1" "$2" 2>/dev/null; then
        FLAT_MOUNTS="$FLAT_MOUNTS $2"
        return 0
    fi
    return 1
}
