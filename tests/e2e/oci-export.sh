#!/bin/bash
# The user's path end to end: the flattening fixture (whiteouts, opaque dirs, hardlinks,
# devices, setuid, xattrs, owners) pushed with skopeo to a real registry, pulled with
# `supermachine pull`, and `supermachine export` compared with `umoci unpack` run as
# root. Then the same pull + export as an unprivileged user (uid 65534) with its own
# store: owners, devices and setuid bits must still come out as the layers say.
set -eu
. "$(dirname "$0")/lib-registry.sh"
. "$(dirname "$0")/lib-flatten.sh"
reg_setup
command -v setpriv >/dev/null || { echo "skip: setpriv not installed" >&2; exit 77; }
flat_fixture
reg_start plain
reg_push "$FIX/oci:multi" "$REG_plain/flat/multi:v1"

flat_list "$FIX/ref/rootfs" >"$WORK/ref.list"

sm pull "$REG_plain/flat/multi:v1"
[ "$RC" = 0 ] || fail "pull: $(cat "$ERR")"
mkdir "$WORK/fromtar"
timeout 120 "$SUPERMACHINE" export "$REG_plain/flat/multi:v1" >"$WORK/export.tar" 2>"$ERR" ||
    fail "export: $(cat "$ERR")"
timeout 120 tar --xattrs --xattrs-include='*' --numeric-owner -xpf "$WORK/export.tar" -C "$WORK/fromtar"
flat_list "$WORK/fromtar" >"$WORK/tar.list"
diff -u "$WORK/ref.list" "$WORK/tar.list" >&2 || fail "export differs from umoci unpack"

# Bad input to export: one line, 125, nothing on stdout.
expect_fail "not found\|no such image\|unknown" export "$REG_plain/flat/absent:v1"
[ ! -s "$OUT" ] || fail "export of a missing image wrote to stdout"

# Unprivileged: its own HOME and store, a copy of the binary it can reach.
U=$WORK/unpriv
mkdir -p "$U/home" "$U/bin"
cp "$SUPERMACHINE" "$U/bin/supermachine"
LIBDIR=$(dirname "$(ldd "$SUPERMACHINE" | awk '/libsupermachine/ {print $3}')")
cp "$LIBDIR"/libsupermachine.so "$LIBDIR/supermachine-io.so" "$U/bin/"
chown -R 65534:65534 "$U"
chmod 755 "$WORK"
as_nobody() {
    timeout 120 env -i PATH=/usr/bin:/bin HOME="$U/home" SUPERMACHINE_HOME="$U/store" \
        LD_LIBRARY_PATH="$U/bin" ${ASAN_OPTIONS:+ASAN_OPTIONS=$ASAN_OPTIONS} \
        setpriv --reuid=65534 --regid=65534 --clear-groups "$U/bin/supermachine" "$@"
}
as_nobody pull -q "$REG_plain/flat/multi:v1" >/dev/null 2>"$ERR" || fail "pull as uid 65534: $(cat "$ERR")"
as_nobody export "$REG_plain/flat/multi:v1" >"$WORK/export2.tar" 2>"$ERR" ||
    fail "export as uid 65534: $(cat "$ERR")"
[ "$(stat -c %u "$U/store")" = 65534 ] || fail "store not owned by uid 65534"
mkdir "$WORK/fromtar2"
timeout 120 tar --xattrs --xattrs-include='*' --numeric-owner -xpf "$WORK/export2.tar" -C "$WORK/fromtar2"
flat_list "$WORK/fromtar2" >"$WORK/tar2.list"
diff -u "$WORK/ref.list" "$WORK/tar2.list" >&2 || fail "unprivileged export differs from umoci unpack"
grep -q '^dev/sda b 0644 0:0 dev=8,0' "$WORK/tar2.list" || fail "block device lost"
grep -q '^usr/bin/su - 4755 0:0' "$WORK/tar2.list" || fail "setuid bit lost"
echo "PASS: pull + export match umoci unpack, as root and as uid 65534 ($(wc -l <"$WORK/ref.list") entries)"
