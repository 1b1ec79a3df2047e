# Helpers for the OCI tests: a real docker-registry (Debian's docker-registry package) on
# 127.0.0.1 with optional htpasswd or token auth, a small token server, and test images
# built from Debian's busybox-static with umoci, cached in $SM_TEST_CACHE.
# Source after `set -eu`; call reg_setup first (it makes $WORK and traps cleanup).

SM_REPO=${SM_REPO:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
SUPERMACHINE=${SUPERMACHINE:-$SM_REPO/build/supermachine}
SM_TEST_CACHE=${SM_TEST_CACHE:-$HOME/.cache/supermachine-tests}
[ -f "$SM_REPO/tests/e2e/lib.sh" ] && . "$SM_REPO/tests/e2e/lib.sh"

REG_PIDS=""

fail() {
    echo "FAIL: $*" >&2
    exit 1
}

reg_need() {
    local t
    for t in docker-registry skopeo umoci busybox openssl python3 curl htpasswd; do
        command -v "$t" >/dev/null 2>&1 || { echo "skip: $t not installed" >&2; exit 77; }
    done
    [ -x "$SUPERMACHINE" ] || { echo "skip: no supermachine binary at $SUPERMACHINE" >&2; exit 77; }
}

reg_cleanup() {
    local p
    for p in $REG_PIDS; do kill "$p" 2>/dev/null || true; done
    for p in $REG_PIDS; do wait "$p" 2>/dev/null || true; done
    [ -n "${WORK:-}" ] && rm -rf "$WORK"
}

reg_setup() {
    reg_need
    WORK=$(mktemp -d /tmp/sm-oci.XXXXXX)
    trap reg_cleanup EXIT
    export SUPERMACHINE_HOME=$WORK/store
    export HOME=$WORK/home
    mkdir -p "$HOME"
    unset DOCKER_CONFIG
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# wait_http URL: until something answers (any status), at most 10 s.
wait_http() {
    local i
    for i in $(seq 100); do
        curl -s -o /dev/null "$1" && return 0
        sleep 0.1
    done
    fail "nothing answers at $1"
}

# reg_start NAME [none|basic|token]: starts a registry; sets REG_<NAME>=127.0.0.1:PORT.
# basic: user "alice" password "s3cret"; token: the token server below, same user.
reg_start() {
    local name=$1 mode=${2:-none} dir=$WORK/reg-$1 port
    mkdir -p "$dir/data"
    port=$(free_port)
    {
        echo "version: 0.1"
        echo "log: {level: error, accesslog: {disabled: true}}"
        echo "storage: {filesystem: {rootdirectory: $dir/data}, delete: {enabled: true}}"
        echo "http: {addr: 127.0.0.1:$port, secret: test}"
        case $mode in
        basic)
            htpasswd -Bbn alice s3cret >"$dir/htpasswd"
            echo "auth: {htpasswd: {realm: test, path: $dir/htpasswd}}"
            ;;
        token)
            token_server_start "$dir"
            echo "auth: {token: {realm: \"http://127.0.0.1:$TOKEN_PORT/token\", service: test-registry, issuer: test-issuer, rootcertbundle: $dir/cert.pem}}"
            ;;
        esac
    } >"$dir/config.yml"
    docker-registry serve "$dir/config.yml" >"$dir/log" 2>&1 &
    REG_PIDS="$REG_PIDS $!"
    wait_http "http://127.0.0.1:$port/v2/"
    eval "REG_$name=127.0.0.1:$port"
    eval "REGDIR_$name=$dir"
}

# A token server: GET /token?service=&scope= with basic auth alice:s3cret answers a JWT
# (RS256, signed with openssl, the certificate in x5c) granting pull+push on the scope.
# Without credentials it refuses (401), so anonymous access fails as on a private repo.
token_server_start() {
    local dir=$1
    openssl req -x509 -newkey rsa:2048 -nodes -keyout "$dir/key.pem" -out "$dir/cert.pem" \
        -days 2 -subj /CN=token >/dev/null 2>&1
    TOKEN_PORT=$(free_port)
    cat >"$dir/token.py" <<'PY'
import base64, json, subprocess, sys, time, os
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import urlparse, parse_qs
d, port = sys.argv[1], int(sys.argv[2])
der = subprocess.run(["openssl", "x509", "-in", d + "/cert.pem", "-outform", "DER"],
                     capture_output=True, check=True).stdout
def b64(b): return base64.urlsafe_b64encode(b).rstrip(b"=").decode()
class H(BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def do_GET(self):
        q = parse_qs(urlparse(self.path).query)
        want = "Basic " + base64.b64encode(b"alice:s3cret").decode()
        if self.headers.get("Authorization") != want:
            self.send_response(401); self.end_headers(); return
        access = []
        for s in q.get("scope", []):
            t, name, actions = s.split(":")
            access.append({"type": t, "name": name, "actions": actions.split(",")})
        now = int(time.time())
        claims = {"iss": "test-issuer", "sub": "alice", "aud": q.get("service", [""])[0],
                  "exp": now + 600, "nbf": now - 10, "iat": now, "jti": os.urandom(8).hex(),
                  "access": access}
        hdr = {"alg": "RS256", "typ": "JWT", "x5c": [base64.b64encode(der).decode()]}
        signing = b64(json.dumps(hdr).encode()) + "." + b64(json.dumps(claims).encode())
        sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", d + "/key.pem"],
                             input=signing.encode(), capture_output=True, check=True).stdout
        body = json.dumps({"token": signing + "." + b64(sig)}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers(); self.wfile.write(body)
HTTPServer(("127.0.0.1", port), H).serve_forever()
PY
    python3 "$dir/token.py" "$dir" "$TOKEN_PORT" >"$dir/token.log" 2>&1 &
    REG_PIDS="$REG_PIDS $!"
    wait_http "http://127.0.0.1:$TOKEN_PORT/token"
}

# The fixture images, built once per version of this file: OCI layouts under $FIX.
#   $FIX/layout:single   busybox, one layer, Cmd/Env/WorkingDir/ExposedPorts set
#   $FIX/layout:multi    three layers: busybox; /etc/hello + /data/x; removes /data/x
#   $FIX/multiarch       an OCI layout whose index has amd64 and arm64 image manifests and
#                        an unknown/unknown attestation entry
reg_fixtures() {
    local key
    key=$(cat "${BASH_SOURCE[0]}" | sha256sum | cut -c1-16)
    FIX=$SM_TEST_CACHE/oci-fixtures-$key
    [ -f "$FIX/done" ] && return 0
    rm -rf "$FIX.tmp"
    mkdir -p "$FIX.tmp"
    (
        set -e
        cd "$FIX.tmp"
        umoci init --layout layout
        umoci new --image layout:single
        umoci unpack --rootless --image layout:single b
        mkdir -p b/rootfs/bin b/rootfs/etc b/rootfs/tmp
        cp /usr/bin/busybox b/rootfs/bin/busybox
        for t in sh ls cat echo; do ln -s busybox b/rootfs/bin/$t; done
        echo "root:x:0:0:root:/root:/bin/sh" >b/rootfs/etc/passwd
        umoci repack --image layout:single b
        rm -rf b
        umoci config --image layout:single --config.cmd /bin/sh --config.cmd -c \
            --config.cmd 'echo hello' --config.env PATH=/bin --config.env GREETING=hi \
            --config.workingdir /tmp --config.exposedports 8080/tcp --config.user root \
            --config.stopsignal SIGTERM
        umoci unpack --rootless --image layout:single b
        echo hello >b/rootfs/etc/hello
        mkdir -p b/rootfs/data
        echo x >b/rootfs/data/x
        umoci repack --image layout:multi b
        rm -rf b
        umoci unpack --rootless --image layout:multi b
        rm b/rootfs/data/x
        umoci repack --image layout:multi b
        rm -rf b
        umoci gc --layout layout
        python3 - <<'PY'
import hashlib, json, os
L = "layout"
def blob(d): return open(f"{L}/blobs/sha256/{d[7:]}", "rb").read()
def put(b):
    d = "sha256:" + hashlib.sha256(b).hexdigest()
    open(f"{L}/blobs/sha256/{d[7:]}", "wb").write(b)
    return d
idx = json.load(open(f"{L}/index.json"))
single = next(m for m in idx["manifests"]
              if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == "single")
man = json.loads(blob(single["digest"]))
cfg = json.loads(blob(man["config"]["digest"]))
entries = []
for arch in ("amd64", "arm64"):
    c = dict(cfg); c["architecture"] = arch
    c["config"] = dict(cfg["config"]); c["config"]["Env"] = ["PATH=/bin", "ARCH=" + arch]
    cb = json.dumps(c).encode()
    m = dict(man); m["config"] = {"mediaType": man["config"]["mediaType"], "digest": put(cb), "size": len(cb)}
    mb = json.dumps(m).encode()
    entries.append({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": put(mb),
                    "size": len(mb), "platform": {"architecture": arch, "os": "linux"}})
# An attestation-like entry, as buildkit adds: it must be skipped.
entries.append(dict(entries[0], platform={"architecture": "unknown", "os": "unknown"},
                    annotations={"vnd.docker.reference.type": "attestation-manifest"}))
ib = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                 "manifests": entries}).encode()
os.makedirs("multiarch/blobs/sha256", exist_ok=True)
for f in os.listdir(f"{L}/blobs/sha256"):
    os.link(f"{L}/blobs/sha256/{f}", f"multiarch/blobs/sha256/{f}")
d = "sha256:" + hashlib.sha256(ib).hexdigest()
open(f"multiarch/blobs/sha256/{d[7:]}", "wb").write(ib)
open("multiarch/oci-layout", "w").write('{"imageLayoutVersion":"1.0.0"}')
json.dump({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.index.v1+json",
           "digest": d, "size": len(ib), "annotations": {"org.opencontainers.image.ref.name": "multi"}}]},
          open("multiarch/index.json", "w"))
PY
    ) >"$FIX.tmp.log" 2>&1 || { cat "$FIX.tmp.log" >&2; fail "building fixture images"; }
    rm -rf "$FIX"
    mv "$FIX.tmp" "$FIX"
    touch "$FIX/done"
}

# reg_push SRC DEST [skopeo options]: skopeo copy oci:SRC to docker://DEST over plain HTTP.
reg_push() {
    local src=$1 dest=$2
    shift 2
    skopeo copy --quiet --dest-tls-verify=false "$@" "oci:$src" "docker://$dest" >/dev/null ||
        fail "skopeo copy $src $dest"
}

# sm ARGS...: runs supermachine with a time bound; stdout in $OUT, stderr in $ERR, status in $RC.
sm() {
    OUT=$WORK/out ERR=$WORK/err
    RC=0
    timeout 120 "$SUPERMACHINE" "$@" >"$OUT" 2>"$ERR" || RC=$?
}

# expect_fail PATTERN ARGS...: supermachine must exit 125 with one line on stderr matching.
expect_fail() {
    local pat=$1
    shift
    sm "$@"
    [ "$RC" = 125 ] || fail "supermachine $*: exit $RC, expected 125 (stderr: $(cat "$ERR"))"
    [ "$(wc -l <"$ERR")" = 1 ] || fail "supermachine $*: stderr is not one line: $(cat "$ERR")"
    grep -q -- "^supermachine: .*$pat" "$ERR" || fail "supermachine $*: stderr '$(cat "$ERR")' lacks '$pat'"
}

# store_snapshot: a listing of the store that must not change on a failed operation: the
# image index and the set of blobs and root filesystems (tmp/ is scratch, not content).
store_snapshot() {
    (
        cd "$SUPERMACHINE_HOME" 2>/dev/null || exit 0
        cat images.json 2>/dev/null || true
        find blobs rootfs -type f 2>/dev/null | sort
    ) | sha256sum
}

# store_check: every blob hashes to its name; no partial file outside tmp/.
store_check() {
    local f
    for f in "$SUPERMACHINE_HOME"/blobs/sha256/*; do
        [ -e "$f" ] || continue
        [ "$(sha256sum <"$f" | cut -c1-64)" = "$(basename "$f")" ] || fail "corrupt blob $f"
    done
    if find "$SUPERMACHINE_HOME" -path "$SUPERMACHINE_HOME/tmp" -prune -o -name '*.partial' -print | grep -q .; then
        fail "partial files outside tmp/"
    fi
}
