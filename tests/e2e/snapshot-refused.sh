#!/usr/bin/env bash
# needs: kvm
# timeout: 400
# A corrupt, truncated or foreign snapshot is refused with one line, exit 125: metadata
# with a flipped byte, a memory file cut short, another format version, a kernel other
# than the one it was made from; and a snapshot is never written over an existing one.
set -eu
. "$(dirname "$0")/lib-boot.sh"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
snap=$dir/snap
out=$dir/boot.log
rc=0
timeout -s KILL 300 "$SUPERMACHINE" boot --initrd "$(boot_test_initrd)" --append "smtest=tick" \
    --snapshot "$snap" --snapshot-when "console:TICK 1 " </dev/null >"$out" 2>&1 || rc=$?
[ "$rc" = 0 ] || fail "snapshot boot exit $rc"

refused() { # refused NAME SNAPDIR REGEX [extra args]
    local name=$1 s=$2 re=$3
    shift 3
    local rc=0
    timeout -s KILL 60 "$SUPERMACHINE" boot --restore "$s" "$@" </dev/null >"$dir/out" 2>"$dir/err" || rc=$?
    [ "$rc" = 125 ] || { cat "$dir/err" "$dir/out" >&2 | tail -5; echo "FAIL $name: exit $rc" >&2; exit 1; }
    grep -Eq "^supermachine: boot: restore $s: $re" "$dir/err" ||
        { cat "$dir/err" >&2; echo "FAIL $name: message does not match '$re'" >&2; exit 1; }
    echo "refused $name: $(cat "$dir/err")"
}
copy() { rm -rf "$2"; cp -a --sparse=always "$1" "$2"; chmod -R u+w "$2"; }

copy "$snap" "$dir/meta"
printf '\x5a' | dd of="$dir/meta/snapshot.meta" bs=1 seek=200 conv=notrunc status=none
refused corrupt-metadata "$dir/meta" "snapshot metadata checksum mismatch"

copy "$snap" "$dir/version"
printf '\x07' | dd of="$dir/version/snapshot.meta" bs=1 seek=8 conv=notrunc status=none
refused version "$dir/version" "snapshot format version 7"

copy "$snap" "$dir/mem"
truncate -s 100M "$dir/mem/memory"
refused truncated-memory "$dir/mem" ".*memory: 104857600 bytes, the snapshot says"

copy "$snap" "$dir/nometa"
rm "$dir/nometa/snapshot.meta"
refused missing-metadata "$dir/nometa" ".*snapshot.meta: No such file or directory"

head -c 4096 /dev/urandom >"$dir/other-kernel"
refused other-kernel "$snap" "snapshot was made with another kernel" --kernel "$dir/other-kernel"

rc=0
timeout -s KILL 60 "$SUPERMACHINE" boot --initrd "$(boot_test_initrd)" --append "smtest=tick" \
    --snapshot "$snap" --snapshot-when "console:TICK 1 " </dev/null >"$out" 2>&1 || rc=$?
[ "$rc" = 125 ] || fail "snapshot over an existing one: exit $rc, want 125"
grep -q "^supermachine: boot: snapshot $snap: File exists" "$out" ||
    fail "snapshot over an existing one: no 'File exists'"
