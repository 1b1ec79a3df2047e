#!/usr/bin/env bash
# Bad input to `boot` gives one line on stderr naming the problem, exit 125, no crash.
# Needs no KVM: everything here is refused before a VM is created.
set -eu
. "$(dirname "$0")/lib-boot.sh"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
printf 'this is not a kernel\n' >"$dir/text"
kernel=$dir/kernel
# bzImage headers: one claiming more payload than the file holds (truncated), and one
# well-formed with a tiny payload, enough to reach the initrd checks (it never runs).
python3 - "$dir/truncated" "$dir/tiny-kernel" <<'PY'
import struct, sys
b = bytearray(4096)
b[0x1f1] = 4                                   # setup_sects
b[0x1fe:0x200] = b'\x55\xaa'
b[0x201] = 0x6a                                # header length
b[0x202:0x206] = b'HdrS'
b[0x206:0x208] = struct.pack('<H', 0x020f)      # protocol 2.15
b[0x211] = 0x01                                # loadflags: LOADED_HIGH
b[0x1f4:0x1f8] = struct.pack('<I', 0x100000)    # syssize: 16 MiB of payload
b[0x236:0x238] = struct.pack('<H', 0x1)        # xloadflags: XLF_KERNEL_64
open(sys.argv[1], 'wb').write(b)
b[0x1f4:0x1f8] = struct.pack('<I', 0x10)        # syssize: 256 bytes, inside the file
open(sys.argv[2], 'wb').write(b)
PY
head -c $((40 << 20)) /dev/zero >"$dir/big-initrd"

check() { # check NAME EXPECTED-REGEX ARGS...
    local name=$1 re=$2
    shift 2
    local rc=0
    timeout 60 "$SUPERMACHINE" boot "$@" >"$dir/out" 2>"$dir/err" </dev/null || rc=$?
    [ "$rc" = 125 ] || { cat "$dir/err" >&2; echo "FAIL $name: exit $rc, want 125" >&2; exit 1; }
    [ "$(wc -l <"$dir/err")" = 1 ] || { cat "$dir/err" >&2; echo "FAIL $name: not one line" >&2; exit 1; }
    grep -Eq "^supermachine: $re" "$dir/err" ||
        { cat "$dir/err" >&2; echo "FAIL $name: message does not match '$re'" >&2; exit 1; }
}
check missing-kernel "boot: kernel $dir/nope: No such file or directory" --kernel "$dir/nope"
check not-a-kernel "boot: kernel $dir/text: not a Linux bzImage" --kernel "$dir/text"
check truncated-kernel "boot: kernel $dir/truncated: truncated" --kernel "$dir/truncated"
check directory-kernel "boot: kernel $dir: not a regular file" --kernel "$dir"
check big-initrd "boot: initrd $dir/big-initrd: .* do not fit in guest memory" \
    --kernel "$dir/tiny-kernel" --initrd "$dir/big-initrd" --memory 32
check missing-initrd "boot: initrd $dir/nope: No such file or directory" \
    --kernel "$dir/tiny-kernel" --initrd "$dir/nope"
check cpus-zero "boot: --cpus 0: must be at least 1" --kernel "$dir/text" --cpus 0
check cpus-many "boot: cpus 65: must be between 1 and 64" --kernel "$dir/text" --cpus 65
check memory-one "boot: memory 1 MiB: must be between" --kernel "$dir/text" --memory 1
check memory-junk "boot: --memory 12x: not a number" --kernel "$dir/text" --memory 12x
check unknown-flag "boot: unknown option '--frobnicate'" --frobnicate
