#!/usr/bin/env bash
# needs: kvm
# timeout: 200
# virtio-vsock against the guest's own drivers (Debian's vsock modules, the device found
# through the ACPI DSDT), host side on Unix sockets (docs/vsock.md). The test init
# (smtest=vsock) connects once to host port 1025 and serves an uppercasing echo on
# port 1234 (1236: the same, starting to read after 2 s) and a control port 1235.
#   - guest -> host: its line reaches a listener on <uds>_1025;
#   - host -> guest: "CONNECT 1234" gives "OK <port>", 1 MiB of random bytes comes back
#     uppercased and complete (credit flow control both ways), and so do 20 connections
#     at once, and 2 MiB with a host that starts reading only after 3 s, and 1 MiB with
#     a guest that does;
#   - CONNECT to a port nobody listens on: the client socket is closed;
#   - "quit": the guest powers off, the VMM exits 0 and removes its socket.
# Snapshot: a snapshot taken while a connection is open; the restore (at another socket
# path) tells the guest with TRANSPORT_RESET (the guest's open connection fails, its
# listener stays) and the echo works through the new path.
set -eu
. "$(dirname "$0")/lib-boot.sh"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
# Initramfs: the test init plus the modules, in load order.
initrd_with_modules "$dir/initrd" drivers/virtio/virtio_ring drivers/virtio/virtio drivers/virtio/virtio_mmio \
    net/vmw_vsock/vsock net/vmw_vsock/vmw_vsock_virtio_transport_common \
    net/vmw_vsock/vmw_vsock_virtio_transport

cat >"$dir/host.py" <<'EOF'
import os, socket, subprocess, sys, threading, time

sm, initrd, work = sys.argv[1:4]
procs = []


def fail(msg, log=None):
    print("FAIL: " + msg, file=sys.stderr)
    if log and os.path.exists(log):
        sys.stderr.write("".join(open(log, errors="replace").readlines()[-30:]))
    for p in procs:
        if p.poll() is None:
            p.kill()
    sys.exit(1)


def boot(log, *args):
    p = subprocess.Popen([sm, "boot", *args], stdin=subprocess.DEVNULL,
                         stdout=open(log, "wb"), stderr=subprocess.STDOUT)
    procs.append(p)
    return p


def wait_log(p, log, text, timeout=120):
    end = time.time() + timeout
    while time.time() < end:
        if text.encode() in open(log, "rb").read():
            return
        if p.poll() is not None:
            fail(f"the VMM exited ({p.returncode}) before '{text}'", log)
        time.sleep(0.2)
    fail(f"no '{text}' within {timeout} s", log)


def vconnect(uds, port):
    """CONNECT through the device's socket: (socket, the answer line or None if closed)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(60)
    s.connect(uds)
    s.sendall(b"CONNECT %d\n" % port)
    line = b""
    try:
        while not line.endswith(b"\n"):
            c = s.recv(1)
            if not c:
                return s, None
            line += c
    except ConnectionResetError:
        return s, None
    return s, line


def echo(uds, data, errors, name, port=1234, read_delay=0):
    try:
        s, line = vconnect(uds, port)
        if not line or not line.startswith(b"OK "):
            errors.append(f"{name}: CONNECT {port} answered {line!r}")
            return
        got = bytearray()

        def reader():
            time.sleep(read_delay)
            while True:
                c = s.recv(1 << 16)
                if not c:
                    return
                got.extend(c)

        t = threading.Thread(target=reader)
        t.start()
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        t.join(120)
        s.close()
        if bytes(got) != data.upper():
            errors.append(f"{name}: sent {len(data)} bytes, got {len(got)} back"
                          + (" (different)" if len(got) == len(data) else ""))
    except Exception as e:  # noqa: BLE001 - reported as a test failure
        errors.append(f"{name}: {e!r}")


def control(uds, cmd):
    s, line = vconnect(uds, 1235)
    if not line or not line.startswith(b"OK "):
        fail(f"control CONNECT answered {line!r}")
    s.sendall(cmd + b"\n")
    s.settimeout(30)
    try:
        s.recv(16)
    except OSError:
        pass
    s.close()


def host_listener(path, got):
    ls = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    ls.bind(path)
    ls.listen(8)

    def run():
        c, _ = ls.accept()
        data = b""
        while True:
            b = c.recv(4096)
            if not b:
                break
            data += b
        got.append(data)

    threading.Thread(target=run, daemon=True).start()


# ---- boot: every path of the device ------------------------------------------------
uds = os.path.join(work, "v.sock")
log = os.path.join(work, "boot.log")
from_guest = []
host_listener(uds + "_1025", from_guest)
p = boot(log, "--initrd", initrd, "--vsock", uds, "--append", "smtest=vsock")
wait_log(p, log, "SMTEST-VSOCK-READY")
if b"SMTEST-MODULE-FAILED" in open(log, "rb").read():
    fail("a vsock module did not load", log)
t0 = time.time()
while not from_guest and time.time() - t0 < 30:
    time.sleep(0.1)
if from_guest != [b"hello from the guest\n"]:
    fail(f"guest -> host port 1025: the listener got {from_guest!r}", log)
print("guest -> host: the guest's line reached <uds>_1025")

errors = []
big = os.urandom((1 << 20) + 12345)
t0 = time.time()
echo(uds, big, errors, "1 MiB")
if errors:
    fail("; ".join(errors), log)
print(f"host -> guest: {len(big)} random bytes came back uppercased in {time.time() - t0:.1f} s")

threads = []
t0 = time.time()
for i in range(20):
    t = threading.Thread(target=echo, args=(uds, os.urandom(48 * 1024 + i * 1000), errors, f"conn {i}"))
    t.start()
    threads.append(t)
for t in threads:
    t.join(150)
if errors:
    fail("; ".join(errors), log)
print(f"20 concurrent connections echoed in {time.time() - t0:.1f} s")

# Slow readers: the host reads nothing for 3 s while 2 MiB go out (the guest's echo
# blocks, its credit to us runs out, we stop reading the host socket, the host's send
# blocks), then everything arrives; and a guest that starts reading only after 2 s.
t0 = time.time()
echo(uds, os.urandom(2 << 20), errors, "host slow to read", read_delay=3)
echo(uds, os.urandom(1 << 20), errors, "guest slow to read", port=1236)
if errors:
    fail("; ".join(errors), log)
print(f"slow host reader (2 MiB) and slow guest reader (1 MiB): complete, in {time.time() - t0:.1f} s")

s, line = vconnect(uds, 9999)
if line is not None:
    fail(f"CONNECT 9999 (no listener) answered {line!r}", log)
s.close()
print("CONNECT 9999: closed (no listener in the guest)")

control(uds, b"quit")
try:
    rc = p.wait(90)
except subprocess.TimeoutExpired:
    fail("the VMM did not exit after the guest's poweroff", log)
if rc != 0:
    fail(f"exit status {rc}", log)
if os.path.exists(uds):
    fail("the VMM left its socket file behind")
print("quit: the guest powered off, exit status 0, socket removed")

# ---- snapshot with an open connection, restore at another path ------------------------
uds1 = os.path.join(work, "s1.sock")
uds2 = os.path.join(work, "s2.sock")
snap = os.path.join(work, "snap")
log1 = os.path.join(work, "snap.log")
log2 = os.path.join(work, "restore.log")
p = boot(log1, "--initrd", initrd, "--vsock", uds1, "--append", "smtest=vsock",
         "--snapshot", snap, "--snapshot-when", "console:SMTEST-VSOCK-SNAPSHOT-NOW")
wait_log(p, log1, "SMTEST-VSOCK-READY")
open_conn, line = vconnect(uds1, 1234)
if not line or not line.startswith(b"OK "):
    fail(f"CONNECT 1234 before the snapshot answered {line!r}", log1)
open_conn.sendall(b"before the snapshot\n")
got = b""
while len(got) < 20:
    got += open_conn.recv(64)
if got != b"BEFORE THE SNAPSHOT\n":
    fail(f"echo before the snapshot: {got!r}", log1)
control(uds1, b"snap")
try:
    rc = p.wait(120)
except subprocess.TimeoutExpired:
    fail("no snapshot", log1)
if rc != 0 or not os.path.exists(os.path.join(snap, "snapshot.meta")):
    fail(f"snapshot boot: exit status {rc}", log1)
print("snapshot taken with a connection open")

r = subprocess.run([sm, "boot", "--restore", snap], stdin=subprocess.DEVNULL,
                   capture_output=True, timeout=120)
if r.returncode != 125 or b"vsock" not in r.stderr:
    fail(f"restore without --vsock: exit {r.returncode}, {r.stderr[-300:]!r}")
print("restore without --vsock: refused (" + r.stderr.decode(errors="replace").strip() + ")")

p = boot(log2, "--restore", snap, "--vsock", uds2)
t0 = time.time()
while not os.path.exists(uds2):
    if p.poll() is not None or time.time() - t0 > 60:
        fail("the restored VMM did not create its socket", log2)
    time.sleep(0.1)
wait_log(p, log2, "SMTEST-VSOCK-CONN-ERROR", 60)  # the guest's open connection was reset
errors = []
echo(uds2, os.urandom(256 * 1024), errors, "after restore")
if errors:
    fail("; ".join(errors), log2)
print("restore: TRANSPORT_RESET ended the guest's open connection; its listener echoes through the new path")
control(uds2, b"quit")
try:
    rc = p.wait(90)
except subprocess.TimeoutExpired:
    fail("the restored VMM did not exit after the guest's poweroff", log2)
if rc != 0:
    fail(f"restore exit status {rc}", log2)
if os.path.exists(uds2):
    fail("the restored VMM left its socket file behind")
print("restore: quit, exit status 0")
EOF

timeout -s KILL 190 python3 "$dir/host.py" "$SUPERMACHINE" "$dir/initrd" "$dir"
