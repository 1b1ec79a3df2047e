#!/usr/bin/env python3
"""Writes the seed corpus (fuzz/corpus/<target>/seed-*): small, real-looking inputs in the
layout each target reads (fuzz/fuzz_<target>.c). Run again after changing a layout; the
crash inputs kept as regressions (regress-*) are not touched."""
import gzip, hashlib, io, json, os, struct, tarfile

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def put(target, name, data):
    d = os.path.join(root, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data)


# ---- guest memory and rings (fuzz_input.h: fuzz_queue_setup, fuzz_guest_fill) ----------
def queue(size_log2, desc, avail, used, event_idx=False):
    flags = size_log2 | (16 if event_idx else 0)
    return struct.pack("<BHHH", flags, desc >> 2, avail >> 2, used >> 2)


class Ram:
    def __init__(self, size=0x2000):
        self.b = bytearray(size)

    def at(self, gpa, data):
        self.b[gpa:gpa + len(data)] = data

    def desc(self, table, i, addr, length, flags=0, nxt=0):
        self.at(table + 16 * i, struct.pack("<QIHH", addr, length, flags, nxt))

    def avail(self, ring, heads):
        self.at(ring, struct.pack("<HH", 0, len(heads)) + b"".join(struct.pack("<H", h) for h in heads))


NEXT, WRITE, INDIRECT = 1, 2, 4

# virtq: one queue of 8; a direct chain (read then write), an indirect one, a lone write.
r = Ram()
r.desc(0x100, 0, 0x400, 64, NEXT, 1)
r.desc(0x100, 1, 0x500, 128, WRITE)
r.desc(0x100, 2, 0x600, 32, INDIRECT)
r.desc(0x600, 0, 0x700, 16, NEXT, 1)
r.desc(0x600, 1, 0x800, 256, WRITE)
r.desc(0x100, 3, 0x900, 512, WRITE)
r.avail(0x200, [0, 2, 3])
put("virtq", "chains", queue(3, 0x100, 0x200, 0x300) + struct.pack("<H", 0x1234) + bytes(r.b[:0xb00]))
put("virtq", "event-idx", queue(3, 0x100, 0x200, 0x300, True) + struct.pack("<H", 0) + bytes(r.b[:0xb00]))

# virtio_blk: IN of sector 1, OUT of sector 2, FLUSH, GET_ID, an unknown type.
r = Ram(0x3000)
reqs = [(0, 1, 512, True), (1, 2, 512, False), (4, 0, 0, False), (8, 0, 20, True), (99, 0, 0, False)]
heads = []
for i, (typ, sector, n, to_guest) in enumerate(reqs):
    base = 0x400 + i * 0x500
    r.at(base, struct.pack("<IIQ", typ, 0, sector))
    d = 3 * i
    heads.append(d)
    if n:
        r.desc(0x100, d, base, 16, NEXT, d + 1)
        r.desc(0x100, d + 1, base + 0x20, n, NEXT | (WRITE if to_guest else 0), d + 2)
    else:
        r.desc(0x100, d, base, 16, NEXT, d + 2)
    r.desc(0x100, d + 2, base + 0x4f0, 1, WRITE)
r.avail(0x200, heads)
put("virtio_blk", "requests-ro", b"\x00" + queue(4, 0x100, 0x200, 0x300) + bytes(r.b))
put("virtio_blk", "requests-rw", b"\x03" + queue(4, 0x100, 0x200, 0x300) + bytes(r.b))


# ---- frames -------------------------------------------------------------------------------
def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff


GUEST_MAC = bytes([0x52, 0x54, 0, 0x12, 0x34, 0x56])
GW_MAC = bytes([0x52, 0x55, 10, 0, 2, 2])


def eth(typ, payload, dst=GW_MAC):
    return dst + GUEST_MAC + struct.pack("!H", typ) + payload


def ip4(proto, src, dst, l4):
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(l4), 1, 0x4000, 64, proto, 0, bytes(src), bytes(dst))
    return h[:10] + struct.pack("!H", csum(h)) + h[12:] + l4


def tcp(sport, dport, flags, seq=1000, ack=0, payload=b""):
    return struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 5 << 4, flags, 65535, 0, 0) + payload


def udp(sport, dport, payload):
    return struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload


def ip6(nh, src, dst, l4):
    return struct.pack("!IHBB16s16s", 6 << 28, len(l4), nh, 64, bytes(src), bytes(dst)) + l4


G4, H4, D4, OUT4 = [10, 0, 2, 15], [10, 0, 2, 2], [10, 0, 2, 3], [93, 184, 216, 34]
G6 = bytes.fromhex("fd000000000000000000000000000015")
OUT6 = bytes.fromhex("20010db8000000000000000000000001")
frames = {
    "tcp4-syn": eth(0x0800, ip4(6, G4, OUT4, tcp(40000, 443, 0x02))),
    "tcp4-syn-denied": eth(0x0800, ip4(6, G4, [10, 1, 2, 3], tcp(40001, 80, 0x02))),
    "tcp4-data": eth(0x0800, ip4(6, G4, OUT4, tcp(40000, 443, 0x18, 1001, 5000, b"GET / HTTP/1.0\r\n\r\n"))),
    "udp4-dns": eth(0x0800, ip4(17, G4, D4, udp(5353, 53, bytes.fromhex("123401000001000000000000076578616d706c6503636f6d0000010001")))),
    "icmp4-echo": eth(0x0800, ip4(1, G4, OUT4, struct.pack("!BBHHH", 8, 0, 0, 1, 1) + b"ping")),
    "frag4": eth(0x0800, ip4(6, G4, OUT4, tcp(1, 2, 2))[:6] + b"\x20\x00" + ip4(6, G4, OUT4, tcp(1, 2, 2))[8:]),
    "tcp6-syn": eth(0x86dd, ip6(6, G6, OUT6, tcp(40000, 443, 0x02))),
    "icmp6-echo": eth(0x86dd, ip6(58, G6, OUT6, struct.pack("!BBHHH", 128, 0, 0, 1, 1))),
    "arp": eth(0x0806, struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 1, GUEST_MAC, bytes(G4), bytes(6), bytes(H4)), b"\xff" * 6),
}
for k, f in frames.items():
    put("net_frame", k, f)

put("net_policy", "specs", "\n".join([
    "8080:80", "127.0.0.1:8080:80/tcp", "[::1]:8080:80/udp", "5353:53/udp", "0.0.0.0/0",
    "10.0.0.0/8:443", "192.168.1.1:1000-2000/udp", "[2001:db8::/32]:443/tcp", "::1",
    "fd00::2", "169.254.169.254", "1.2.3.4/33", "[::1]:0-65535"]))

# virtio_net: rx queue of 8 buffers, tx queue with two frames (header split, one chain).
r = Ram(0x4000)
for i in range(4):
    r.desc(0x100, i, 0x1000 + i * 0x400, 0x400, WRITE)
r.avail(0x180, [0, 1, 2, 3])
txf = [frames["tcp4-syn-denied"], frames["udp4-dns"]]
r.at(0x2000, bytes(12))
r.at(0x2100, txf[0])
r.desc(0x600, 0, 0x2000, 12, NEXT, 1)
r.desc(0x600, 1, 0x2100, len(txf[0]))
r.at(0x2400, bytes(12) + txf[1])
r.desc(0x600, 2, 0x2400, 12 + len(txf[1]))
r.avail(0x680, [0, 2])
rxf = frames["tcp4-data"]
put("virtio_net", "frames", queue(3, 0x100, 0x180, 0x200) + queue(3, 0x600, 0x680, 0x700) +
    b"\x07" + struct.pack("<H", len(rxf)) + rxf + bytes(r.b))


# virtio_vsock: rx buffers, a REQUEST to host port 1025 then data, a credit request, an
# RST for an unknown connection; an event buffer.
def vhdr(op, sport, dport, length=0, flags=0, src=3, dst=2):
    return struct.pack("<QQIIIHHIII", src, dst, sport, dport, length, 1, op, flags, 65536, 0)


r = Ram(0x4000)
for i in range(4):
    r.desc(0x100, i, 0x1000 + i * 0x200, 0x200, WRITE)
r.avail(0x180, [0, 1, 2, 3])
pk = [vhdr(1, 5000, 1025), vhdr(5, 5000, 1025, 5) + b"hello", vhdr(7, 5000, 1025),
      vhdr(4, 5000, 1025, flags=3), vhdr(3, 6000, 99), vhdr(1, 6001, 1026)]
for i, p in enumerate(pk):
    r.at(0x2000 + i * 0x100, p)
    r.desc(0x600, i, 0x2000 + i * 0x100, len(p))
r.avail(0x680, list(range(len(pk))))
r.desc(0xa00, 0, 0x3000, 4, WRITE)
r.avail(0xa80, [0])
put("virtio_vsock", "packets", queue(3, 0x100, 0x180, 0x200) + queue(3, 0x600, 0x680, 0x700) +
    queue(3, 0xa00, 0xa80, 0xb00) + b"\x02" + bytes(r.b))


# ---- agent protocol ---------------------------------------------------------------------------
def frame(t, payload):
    if isinstance(payload, (dict, list)):
        payload = json.dumps(payload).encode()
    return struct.pack(">IB", len(payload) + 1, t) + payload


put("agent_proto", "exec-session", b"\x07" + frame(1, {"version": 1, "time_ns": 1700000000000000000, "seed": "00ff", "hostname": "web"}) +
    frame(2, {"argv": ["sh", "-c", "echo hi"], "env": ["PATH=/bin", "TERM=xterm"], "cwd": "/", "user": "1000:1000", "tty": True, "rows": 24, "cols": 80, "stdin": True, "timeout_ms": 5000}) +
    frame(4, b"input") + frame(4, b"") + frame(9, {"rows": 50, "cols": 120}) + frame(8, {"signal": 15}))
put("agent_proto", "guest-answers", b"\x40" + frame(1, {"version": 1}) + frame(3, {"pid": 42}) + frame(5, b"hi\n") +
    frame(6, b"oops") + frame(7, {"status": 0, "peak_rss_kib": 1024, "duration_ms": 12, "timed_out": False}) +
    frame(11, {"message": "exec: no such file"}))
put("agent_proto", "hello-hosts", b"\x21" + frame(1, {"version": 1, "time_ns": 1, "seed": "00", "hostname": "h", "hosts": [
    {"name": "db", "ip": "10.0.0.5"}, {"name": "v6.example", "ip": "2001:db8::1"}, {"name": "bad name", "ip": "1.2.3.4"},
    {"name": "x", "ip": "1.2.3.4\n5.6.7.8 evil"}, "db:1.2.3.4", {"name": "gw", "ip": "::ffff:10.0.2.2"}]}))
put("agent_proto", "ports", b"\xff" + frame(14, {"tcp": [{"port": 80, "address": "0.0.0.0"}, {"port": 443, "address": "::"}, {"port": 70000, "address": "x"}]}))
put("agent_proto", "processes", b"\x30" + frame(20, {"list": True}) +
    frame(20, {"pid": 42, "ppid": 7, "uid": 0, "gid": 0, "user": "root", "state": "S", "tty": "?", "start_ms": 1700000000000,
               "cpu_ms": 10, "rss_kib": 900, "vsz_kib": 1800, "threads": 1, "comm": "httpd", "args": "httpd -f -p 80"}) +
    frame(20, {"pid": 43, "ppid": 42, "user": "x\u001b[2J", "state": "Z", "comm": "a\tb", "args": ""}) +
    frame(7, {"status": 0, "processes": 2, "cpus": 1, "uptime_ms": 5000, "mem_total_kib": 500000, "mem_available_kib": 400000,
              "net_rx_bytes": 1, "net_tx_bytes": 2, "block_read_bytes": 4096, "block_write_bytes": 0}))
put("agent_proto", "files", b"\x10" + frame(12, {"path": "/etc/app.conf", "mode": 420, "uid": 0, "gid": 0}) + frame(4, b"k=v\n") +
    frame(4, b"") + frame(13, {"path": "/etc/hostname"}) + frame(7, {"status": 0, "size": 4}))

# ---- registry JSON ---------------------------------------------------------------------------
D = lambda s: "sha256:" + hashlib.sha256(s.encode()).hexdigest()
oci_manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": D("config"), "size": 1469},
                "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": D("l1"), "size": 2818413},
                           {"mediaType": "application/vnd.oci.image.layer.v1.tar+zstd", "digest": D("l2"), "size": 1024}],
                "annotations": {"org.opencontainers.image.created": "2024-01-01T00:00:00Z"}}
docker_manifest = {"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                   "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "digest": D("c"), "size": 7023},
                   "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "digest": D("a"), "size": 32654}]}
index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [
    {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": D("amd64"), "size": 1234, "platform": {"architecture": "amd64", "os": "linux"}},
    {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": D("arm64"), "size": 1234, "platform": {"architecture": "arm64", "os": "linux", "variant": "v8"}},
    {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": D("att"), "size": 566, "platform": {"architecture": "unknown", "os": "unknown"},
     "annotations": {"vnd.docker.reference.digest": D("amd64"), "vnd.docker.reference.type": "attestation-manifest"}}]}
docker_list = dict(index, mediaType="application/vnd.docker.distribution.manifest.list.v2+json")
oci_layout_index = {"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": D("m"), "size": 500,
                                                        "annotations": {"org.opencontainers.image.ref.name": "latest", "io.containerd.image.name": "docker.io/library/busybox:latest"}}]}
put("oci_manifest", "oci-manifest", b"\x02" + json.dumps(oci_manifest, indent=3).encode())
put("oci_manifest", "docker-manifest", b"\x05" + json.dumps(docker_manifest).encode())
put("oci_manifest", "oci-index", b"\x03" + json.dumps(index).encode())
put("oci_manifest", "docker-list", b"\x00" + json.dumps(docker_list).encode())
put("oci_manifest", "layout-index", b"\x01" + json.dumps(oci_layout_index).encode())

config = {"architecture": "amd64", "os": "linux", "created": "2024-05-01T12:00:00.123456789Z", "author": "someone",
          "config": {"User": "nginx", "ExposedPorts": {"80/tcp": {}, "443/tcp": {}}, "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "NGINX_VERSION=1.25.5"],
                     "Entrypoint": ["/docker-entrypoint.sh"], "Cmd": ["nginx", "-g", "daemon off;"], "WorkingDir": "/", "StopSignal": "SIGQUIT", "Labels": {"maintainer": "x"}},
          "rootfs": {"type": "layers", "diff_ids": [D("d1"), D("d2")]},
          "history": [{"created": "2024-05-01T12:00:00Z", "created_by": "/bin/sh -c #(nop) ADD file:abc in /"}, {"created_by": "CMD [\"nginx\"]", "empty_layer": True}]}
put("oci_config", "nginx-like", json.dumps(config, indent=2))
put("oci_config", "minimal", json.dumps({"rootfs": {"type": "layers", "diff_ids": [D("x")]}, "config": {"Cmd": ["sh"]}}))

put("oci_registry", "token", b"\x05" + json.dumps({"token": "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln", "access_token": "eyJ", "expires_in": 300, "issued_at": "2024-01-01T00:00:00Z"}).encode())
put("oci_registry", "access-token", b"\x05" + json.dumps({"access_token": "abc.def.ghi"}).encode())
put("oci_registry", "challenge", b"\x00" + b'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull"')
put("oci_registry", "error", b"\x02" + json.dumps({"errors": [{"code": "MANIFEST_UNKNOWN", "message": "manifest unknown", "detail": {"Tag": "nope"}}]}).encode())
put("oci_registry", "denied", b"\x01" + json.dumps({"errors": [{"code": "DENIED", "message": "requested access to the resource is denied"}]}).encode())

for i, ref in enumerate(["busybox", "library/busybox:1.36", "docker.io/library/busybox:latest", "127.0.0.1:5000/test/app:v1",
                         "localhost/x", "[::1]:5000/ns/name:tag", "ghcr.io/org/repo@sha256:" + "a" * 64,
                         "quay.io/a/b/c:1.0-rc.1@sha256:" + "0123456789abcdef" * 4, "index.docker.io/user/app"]):
    put("oci_ref", "ref%d" % i, ref)


# ---- layers -----------------------------------------------------------------------------------
def tar(entries):
    b = io.BytesIO()
    with tarfile.open(fileobj=b, mode="w", format=tarfile.PAX_FORMAT) as t:
        for name, kind, data in entries:
            ti = tarfile.TarInfo(name)
            ti.mtime = 1700000000
            if kind == "dir":
                ti.type, ti.mode = tarfile.DIRTYPE, 0o755
                t.addfile(ti)
            elif kind == "file":
                ti.size, ti.mode = len(data), 0o644
                if name.endswith("ping"):
                    ti.mode = 0o4755
                    ti.pax_headers = {"SCHILY.xattr.security.capability": "\x01\x00\x00\x02"}
                t.addfile(ti, io.BytesIO(data))
            elif kind == "sym":
                ti.type, ti.linkname = tarfile.SYMTYPE, data
                t.addfile(ti)
            elif kind == "hard":
                ti.type, ti.linkname = tarfile.LNKTYPE, data
                t.addfile(ti)
            elif kind == "fifo":
                ti.type = tarfile.FIFOTYPE
                t.addfile(ti)
            elif kind == "chr":
                ti.type, ti.devmajor, ti.devminor = tarfile.CHRTYPE, 1, 3
                t.addfile(ti)
    return b.getvalue()


SEP = b"--SM-FUZZ-LAYER--"
l1 = tar([("bin", "dir", None), ("bin/busybox", "file", b"\x7fELF" + bytes(60)), ("bin/sh", "hard", "bin/busybox"),
          ("bin/ping", "file", b"ping"), ("etc", "dir", None), ("etc/passwd", "file", b"root:x:0:0:root:/root:/bin/sh\n"),
          ("etc/old", "file", b"old"), ("lib", "sym", "usr/lib"), ("usr/lib/libc.so", "file", b"libc"),
          ("var/cache", "dir", None), ("var/cache/a", "file", b"a"), ("dev/null", "chr", None), ("run/fifo", "fifo", None)])
l2 = tar([("etc/.wh.old", "file", b""), ("var/cache/.wh..wh..opq", "file", b""), ("var/cache/b", "file", b"b"),
          ("etc/passwd", "file", b"root:x:0:0:root:/root:/bin/ash\n")])
put("flatten", "one-layer", l1)
put("flatten", "two-layers", l1 + SEP + l2)
put("flatten", "gzip-layer", gzip.compress(l1, mtime=0) + SEP + gzip.compress(l2, mtime=0))
put("flatten", "bad-paths", tar([("../escape", "file", b"x"), ("lib/x", "file", b"under a symlink")]))
# cp out of a VM (fuzz_copy_tar.c): trees as a guest's read-tar sends them, and as a
# hostile one might (outside the top, "..", a symlink then a file through it, a device).
put("copy_tar", "tree", tar([("t", "dir", None), ("t/a", "file", b"hello\n"), ("t/l", "sym", "a"),
                             ("t/d", "dir", None), ("t/d/setuid-ping", "file", b"ping")]))
put("copy_tar", "hostile", tar([("t", "dir", None), ("t/x", "sym", "../../escape"), ("t/x/f", "file", b"x"),
                                ("../escape", "file", b"x"), ("other", "file", b"y"), ("t/dev", "chr", None)]))
try:
    import zstandard
    put("flatten", "zstd-layer", zstandard.ZstdCompressor().compress(l2))
except ImportError:
    pass


# ---- snapshot metadata (without its sha256 trailer: fuzz_snapshot.c adds it) ---------------
def snap(sections):
    body = b""
    for typ, idx, data in sections:
        body += struct.pack("<IIQ", typ, idx, len(data)) + data + bytes((8 - len(data) % 8) % 8)
    return b"SMSNAP\r\n" + struct.pack("<IIQ", 1, len(sections), len(body) + 0) + body


def virtq_state(size, ready, desc, avail, used):
    return struct.pack("<H??4xQQQHHH?x", size, ready, False, desc, avail, used, 0, 0, 0, False)


cfg = struct.pack("<IIQII65s65s65s5s", 2, 2000000, 512 << 20, 2, 1, b"f" * 64, b"k" * 64, b"", b"")
mmio = struct.pack("<IIIIQIII4x", 15, 1, 1, 0, (1 << 32) | (1 << 29), 0, 0, 1)
mmio += virtq_state(8, True, 0x1000, 0x2000, 0x3000) + virtq_state(8, True, 0x20000, 0x20100, 0x20200) + virtq_state(0, False, 0, 0, 0) * 2
assert len(cfg) == 224 and len(mmio) == 200
put("snapshot", "meta", snap([(1, 0, cfg), (6, 0, struct.pack("<QQ", 123456789, 1700000000000000000)),
                              (7, 1, struct.pack("<8B?16sBB", 0x0f, 3, 0x0b, 0, 0, 1, 0, 0xc7, True, b"hello, console..", 0, 5)),
                              (7, 2, bytes(1)), (7, 16, mmio), (7, 17, mmio), (7, 3, struct.pack("<QII", 3, 1 << 30, 0))]))
put("snapshot", "empty", snap([]))
