#!/bin/bash
# `load -i`: a docker save tarball built by hand (manifest.json + config + layer tars,
# legacy directory layout with a symlinked layer), gzip-compressed too, and an OCI layout
# archive; `tag` names a loaded image again (by name or ID) and rmi of a tag keeps the
# image; then hostile archives (bad JSON, missing layer, digest mismatch), each a
# one-line error with the store unchanged.
set -eu
. "$(dirname "$0")/lib-registry.sh"
reg_setup
reg_fixtures
A=$WORK/archives
mkdir -p "$A"
python3 - "$FIX/layout" "$A" <<'PY'
import gzip, hashlib, io, json, os, sys, tarfile
L, A = sys.argv[1], sys.argv[2]
def blob(d): return open(f"{L}/blobs/sha256/{d[7:]}", "rb").read()
def dg(b): return "sha256:" + hashlib.sha256(b).hexdigest()
idx = json.load(open(f"{L}/index.json"))
def image(tag):
    e = next(m for m in idx["manifests"] if m["annotations"]["org.opencontainers.image.ref.name"] == tag)
    man = json.loads(blob(e["digest"]))
    return e, man, blob(man["config"]["digest"]), [gzip.decompress(blob(l["digest"])) for l in man["layers"]]
def add(t, name, data=None, link=None):
    ti = tarfile.TarInfo(name)
    if link is not None:
        ti.type = tarfile.SYMTYPE; ti.linkname = link; t.addfile(ti)
    else:
        ti.size = len(data); t.addfile(ti, io.BytesIO(data))
def docker_save(path, mutate=None, compress=False):
    _, man, cfg, layers = image("multi")
    files = {}
    cfgname = dg(cfg)[7:] + ".json"
    files[cfgname] = cfg
    names = []
    for i, l in enumerate(layers):
        d = f"layer{i}"
        files[f"{d}/layer.tar"] = l
        files[f"{d}/VERSION"] = b"1.0"
        names.append(f"{d}/layer.tar")
    mf = [{"Config": cfgname, "RepoTags": ["example.com/saved/img:v1", "saved:latest"], "Layers": names}]
    links = {}
    # The last layer as newer docker writes it: the path is a symlink to the content.
    links[names[-1]] = "../blobs/sha256/" + dg(layers[-1])[7:]
    files["blobs/sha256/" + dg(layers[-1])[7:]] = files.pop(names[-1])
    if mutate: mf = mutate(mf, files) or mf
    files["manifest.json"] = mf if isinstance(mf, bytes) else json.dumps(mf).encode()
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as t:
        for n, b in files.items(): add(t, n, b)
        for n, tgt in links.items(): add(t, n, link=tgt)
    data = gzip.compress(raw.getvalue()) if compress else raw.getvalue()
    open(path, "wb").write(data)
docker_save(f"{A}/save.tar")
docker_save(f"{A}/save.tar.gz", compress=True)
docker_save(f"{A}/badjson.tar", mutate=lambda mf, f: b"[{\"Config\": ")
def drop_layer(mf, f): del f["layer0/layer.tar"]
docker_save(f"{A}/missing.tar", mutate=drop_layer)
# OCI layout archive: the multi image, named by a full reference.
def oci(path, corrupt=False):
    e, man, cfg, _ = image("multi")
    e = dict(e, annotations={"org.opencontainers.image.ref.name": "example.com/oci/img:2"})
    with tarfile.open(path, "w") as t:
        add(t, "oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
        add(t, "index.json", json.dumps({"schemaVersion": 2, "manifests": [e]}).encode())
        digests = [e["digest"], man["config"]["digest"]] + [l["digest"] for l in man["layers"]]
        for d in digests:
            b = blob(d)
            if corrupt and d == man["layers"][-1]["digest"]:
                b = bytearray(b); b[-1] ^= 1; b = bytes(b)
            add(t, "blobs/sha256/" + d[7:], b)
oci(f"{A}/oci.tar")
oci(f"{A}/oci-corrupt.tar", corrupt=True)
open(f"{A}/notar.tar", "wb").write(os.urandom(4096))
PY

sm load -i "$A/save.tar"
[ "$RC" = 0 ] || fail "load docker save: $(cat "$ERR")"
grep -qx "Loaded image: example.com/saved/img:v1" "$OUT" || fail "load output: $(cat "$OUT")"
grep -qx "Loaded image: saved:latest" "$OUT" || fail "load output: $(cat "$OUT")"
sm inspect saved
[ "$RC" = 0 ] || fail "inspect saved: $(cat "$ERR")"
python3 -c "import json; d=json.load(open('$OUT'))[0]; assert len(d['RootFS']['diff_ids'])==3 and d['Config']['WorkingDir']=='/tmp', d"
sm images
grep -q '^saved  *latest ' "$OUT" || fail "images lacks saved: $(cat "$OUT")"
store_check
sm rmi saved example.com/saved/img:v1
[ "$RC" = 0 ] || fail "rmi: $(cat "$ERR")"
[ -z "$(ls "$SUPERMACHINE_HOME/blobs/sha256")" ] || fail "blobs left after removing every image"

sm load -i "$A/save.tar.gz"
[ "$RC" = 0 ] || fail "load gzip'd docker save: $(cat "$ERR")"
sm load -i "$A/oci.tar"
[ "$RC" = 0 ] || fail "load OCI layout: $(cat "$ERR")"
grep -qx "Loaded image: example.com/oci/img:2" "$OUT" || fail "load output: $(cat "$OUT")"
sm inspect example.com/oci/img:2
[ "$RC" = 0 ] || fail "inspect loaded OCI image: $(cat "$ERR")"
store_check

# tag: another name for the same image; removing one name keeps the other and the blobs.
id=$(python3 -c "import json; print(json.load(open('$OUT'))[0]['Id'])")
sm tag example.com/oci/img:2 mine:renamed
[ "$RC" = 0 ] || fail "tag: $(cat "$ERR")"
sm inspect mine:renamed
[ "$RC" = 0 ] && [ "$(python3 -c "import json; print(json.load(open('$OUT'))[0]['Id'])")" = "$id" ] ||
    fail "the tag names another image: $(cat "$OUT" "$ERR")"
sm images
grep -q '^mine  *renamed ' "$OUT" || fail "images lacks mine:renamed: $(cat "$OUT")"
sm tag "${id#sha256:}" by-id:1
[ "$RC" = 0 ] || fail "tag by image ID: $(cat "$ERR")"
sm tag example.com/oci/img:2 'bad name'
[ "$RC" = 125 ] && [ "$(wc -l <"$ERR")" = 1 ] && grep -q "^supermachine: tag example.com/oci/img:2 bad name: " "$ERR" ||
    fail "a bad target: $RC $(cat "$ERR")"
sm tag no-such:image x:1
[ "$RC" = 125 ] && grep -q "^supermachine: tag no-such:image x:1: " "$ERR" || fail "an absent source: $RC $(cat "$ERR")"
sm rmi mine:renamed by-id:1
[ "$RC" = 0 ] || fail "rmi of the tags: $(cat "$ERR")"
sm inspect example.com/oci/img:2
[ "$RC" = 0 ] || fail "rmi of a tag removed the image it named: $(cat "$ERR")"
store_check

before=$(store_snapshot)
expect_fail "manifest.json: invalid JSON" load -i "$A/badjson.tar"
expect_fail "layer layer0/layer.tar: missing from the archive" load -i "$A/missing.tar"
expect_fail "digest mismatch" load -i "$A/oci-corrupt.tar"
expect_fail "Unrecognized archive format" load -i "$A/notar.tar"
expect_fail "absent.tar" load -i "$A/absent.tar"
[ "$(store_snapshot)" = "$before" ] || fail "a failed load changed the store"
[ -z "$(ls "$SUPERMACHINE_HOME/tmp")" ] || fail "a failed load left files in tmp/"
store_check
echo PASS
