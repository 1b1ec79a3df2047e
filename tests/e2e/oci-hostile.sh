#!/bin/bash
# Hostile registries and archives: each case must fail with one line on stderr, exit 125,
# and leave the store as it was (index and blobs unchanged, every blob verified).
# A small Python server plays the misbehaving registry, serving files we prepare.
set -eu
. "$(dirname "$0")/lib-registry.sh"
reg_setup
reg_fixtures
reg_start a
reg_push "$FIX/layout:single" "$REG_a/good/img:1"
sm pull "$REG_a/good/img:1"
[ "$RC" = 0 ] || fail "pull of a good image: $(cat "$ERR")"

EVIL=$WORK/evil
mkdir -p "$EVIL"
python3 - "$FIX/layout" "$EVIL" <<'PY'
import hashlib, json, os, sys
L, E = sys.argv[1], sys.argv[2]
def blob(d): return open(f"{L}/blobs/sha256/{d[7:]}", "rb").read()
def dg(b): return "sha256:" + hashlib.sha256(b).hexdigest()
idx = json.load(open(f"{L}/index.json"))
single = next(m for m in idx["manifests"] if m["annotations"]["org.opencontainers.image.ref.name"] == "single")
man = json.loads(blob(single["digest"]))
# A layer of our own (not in the store already): one file of random bytes.
import gzip, io, tarfile
raw = io.BytesIO()
with tarfile.open(fileobj=raw, mode="w") as t:
    data = os.urandom(200000)
    ti = tarfile.TarInfo("random.bin"); ti.size = len(data)
    t.addfile(ti, io.BytesIO(data))
layer = gzip.compress(raw.getvalue())
c = json.loads(blob(man["config"]["digest"]))
c["rootfs"]["diff_ids"] = [dg(raw.getvalue())]
cfg = json.dumps(c).encode()
man["config"] = dict(man["config"], digest=dg(cfg), size=len(cfg))
man["layers"] = [dict(man["layers"][0], digest=dg(layer), size=len(layer),
                      mediaType="application/vnd.oci.image.layer.v1.tar+gzip")]
OCI = "application/vnd.oci.image.manifest.v1+json"
def repo(name, manifest, blobs, ct=OCI):
    os.makedirs(f"{E}/{name}/blobs", exist_ok=True)
    os.makedirs(f"{E}/{name}/manifests", exist_ok=True)
    open(f"{E}/{name}/manifests/1", "wb").write(manifest)
    open(f"{E}/{name}/manifests/1.ct", "w").write(ct)
    for d, b in blobs.items():
        open(f"{E}/{name}/blobs/{d}", "wb").write(b)
good = {man["config"]["digest"]: cfg, man["layers"][0]["digest"]: layer}
mb = json.dumps(man).encode()
# A layer whose bytes do not hash to its digest (same size).
bad = bytearray(layer); bad[len(bad) // 2] ^= 0xff
repo("digest", mb, {man["config"]["digest"]: cfg, man["layers"][0]["digest"]: bytes(bad)})
# A layer cut short.
repo("truncated", mb, {man["config"]["digest"]: cfg, man["layers"][0]["digest"]: layer[:len(layer) // 2]})
# A layer longer than its descriptor (with the right prefix).
repo("oversize", mb, {man["config"]["digest"]: cfg, man["layers"][0]["digest"]: layer + b"x" * 4096})
# Manifests: not JSON, huge, unknown media types.
repo("badjson", b'{"schemaVersion": 2, "config": {', good)
repo("huge", b'{"schemaVersion":2,"x":"' + b"a" * (5 << 20) + b'"}', good)
repo("mediatype", json.dumps(dict(man, mediaType="application/x-evil")).encode(), good, ct="application/x-evil")
m2 = json.loads(mb); m2["layers"][0]["mediaType"] = "application/x-evil-layer"
repo("layertype", json.dumps(m2).encode(), good)
# A config whose diff_ids do not match the layers (two ids for one layer).
c = json.loads(cfg); c["rootfs"]["diff_ids"] = c["rootfs"]["diff_ids"] * 2
cb = json.dumps(c).encode()
m3 = json.loads(mb); m3["config"] = dict(m3["config"], digest=dg(cb), size=len(cb))
repo("diffids", json.dumps(m3).encode(), {dg(cb): cb, man["layers"][0]["digest"]: layer})
# A config that is not JSON.
cb = b"not json"
m4 = json.loads(mb); m4["config"] = dict(m4["config"], digest=dg(cb), size=len(cb))
repo("badconfig", json.dumps(m4).encode(), {dg(cb): cb, man["layers"][0]["digest"]: layer})
# A descriptor with a malformed digest.
m5 = json.loads(mb); m5["layers"][0]["digest"] = "sha256:../../etc/passwd"
repo("baddigest", json.dumps(m5).encode(), good)
PY
cat >"$WORK/evil.py" <<'PY'
import os, sys
from http.server import BaseHTTPRequestHandler, HTTPServer
E, port = sys.argv[1], int(sys.argv[2])
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def send(self, code, body, ct="application/json"):
        self.send_response(code)
        self.send_header("Content-Type", ct)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def do_GET(self):
        p = self.path.split("?")[0]
        if p == "/v2/":
            return self.send(200, b"{}")
        parts = p[len("/v2/"):].split("/")
        name, kind, ref = "/".join(parts[:-2]), parts[-2], parts[-1]
        f = os.path.join(E, name, kind, ref)
        if ".." in p or not os.path.isfile(f):
            return self.send(404, b'{"errors":[{"code":"BLOB_UNKNOWN","message":"unknown"}]}')
        ct = open(f + ".ct").read() if os.path.exists(f + ".ct") else "application/octet-stream"
        self.send(200, open(f, "rb").read(), ct)
HTTPServer(("127.0.0.1", port), H).serve_forever()
PY
EP=$(free_port)
python3 "$WORK/evil.py" "$EVIL" "$EP" >"$WORK/evil.log" 2>&1 &
REG_PIDS="$REG_PIDS $!"
wait_http "http://127.0.0.1:$EP/v2/"
X=127.0.0.1:$EP

before=$(store_snapshot)
check() { # check NAME PATTERN
    expect_fail "$2" pull "$X/$1:1"
    grep -q "pull $X/$1:1: " "$ERR" || fail "$1: the error does not name the image: $(cat "$ERR")"
    [ "$(store_snapshot)" = "$before" ] || fail "$1: the store changed"
    store_check
}
check digest "digest mismatch"
check truncated "truncated"
check oversize "more data than its declared size"
check badjson "invalid JSON"
check huge "too large"
check mediatype "unsupported manifest media type application/x-evil"
check layertype "unsupported media type application/x-evil-layer"
check diffids "2 diff_ids for 1 layers"
check badconfig "invalid JSON"
check baddigest "missing or unsupported digest"
check nosuch "unknown"
# The good image is still intact and usable.
sm inspect "$REG_a/good/img:1"
[ "$RC" = 0 ] || fail "good image damaged: $(cat "$ERR")"
# Nothing was written outside the store.
[ -z "$(find "$WORK" -newer "$WORK/evil.py" -type f ! -path "$SUPERMACHINE_HOME/*" ! -path "$WORK/out" ! -path "$WORK/err" ! -path "$WORK/reg-*" ! -name '*.log')" ] ||
    fail "files written outside the store"
echo PASS
