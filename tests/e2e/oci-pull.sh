#!/bin/bash
# Pull from a real docker-registry on 127.0.0.1: single- and multi-layer OCI images, a
# Docker v2 schema 2 image, a two-platform index (host default, --platform, attestation
# entry skipped), digest pins; images/inspect/rmi; resume of a partial download;
# concurrent pulls of one image into one store.
set -eu
. "$(dirname "$0")/lib-registry.sh"
reg_setup
reg_fixtures
reg_start a
R=$REG_a
reg_push "$FIX/layout:single" "$R/test/single:1"
reg_push "$FIX/layout:multi" "$R/test/multi:latest"
reg_push "$FIX/layout:single" "$R/test/v2s2:1" --format v2s2
skopeo copy --quiet --all --dest-tls-verify=false "oci:$FIX/multiarch:multi" \
    "docker://$R/test/multiarch:1" >/dev/null || fail "push multiarch"

inspect_field() { # inspect_field REF PYTHON-EXPR-ON-d
    sm inspect "$1"
    [ "$RC" = 0 ] || fail "inspect $1: $(cat "$ERR")"
    python3 -c "import json,sys; d=json.load(open('$OUT'))[0]; print($2)"
}

# Single layer: pulled, listed, config as built.
sm pull "$R/test/single:1"
[ "$RC" = 0 ] || fail "pull single: $(cat "$ERR")"
[ ! -s "$ERR" ] || fail "pull wrote to stderr without a TTY: $(cat "$ERR")"
grep -q '^Digest: sha256:' "$OUT" || fail "pull output lacks the digest"
want=$(skopeo inspect --raw --tls-verify=false "docker://$R/test/single:1" | sha256sum | cut -c1-64)
grep -q "sha256:$want" "$OUT" || fail "pull digest differs from the registry's manifest digest"
[ "$(inspect_field "$R/test/single:1" 'd["Config"]["Cmd"]')" = "['/bin/sh', '-c', 'echo hello']" ] ||
    fail "Cmd not as built"
[ "$(inspect_field "$R/test/single:1" 'd["Config"]["WorkingDir"], d["Config"]["Env"]')" = \
    "/tmp ['PATH=/bin', 'GREETING=hi']" ] || fail "WorkingDir/Env not as built"

# Multi-layer: three layers, all blobs in the store and verified.
sm pull "$R/test/multi"
[ "$RC" = 0 ] || fail "pull multi: $(cat "$ERR")"
[ "$(inspect_field "$R/test/multi" 'len(d["RootFS"]["diff_ids"])')" = 3 ] || fail "multi: not 3 layers"
store_check

# Docker v2 schema 2 manifest.
sm pull "$R/test/v2s2:1"
[ "$RC" = 0 ] || fail "pull v2s2: $(cat "$ERR")"
skopeo inspect --raw --tls-verify=false "docker://$R/test/v2s2:1" |
    grep -q 'application/vnd.docker.distribution.manifest.v2+json' || fail "fixture is not v2s2"

# Two-platform index: the host's (amd64) by default, arm64 on request.
sm pull "$R/test/multiarch:1"
[ "$RC" = 0 ] || fail "pull multiarch: $(cat "$ERR")"
[ "$(inspect_field "$R/test/multiarch:1" 'd["Architecture"]')" = amd64 ] || fail "default platform not amd64"
sm pull --platform linux/arm64 "$R/test/multiarch:1"
[ "$RC" = 0 ] || fail "pull --platform linux/arm64: $(cat "$ERR")"
[ "$(inspect_field "$R/test/multiarch:1" 'd["Architecture"], d["Config"]["Env"][1]')" = "arm64 ARCH=arm64" ] ||
    fail "--platform linux/arm64 did not select the arm64 manifest"
expect_fail "no manifest for platform linux/s390x" pull --platform linux/s390x "$R/test/multiarch:1"

# A digest pin.
sm pull "$R/test/single@sha256:$want"
[ "$RC" = 0 ] || fail "pull by digest: $(cat "$ERR")"
expect_fail "manifest unknown" pull "$R/test/single@sha256:$(printf %064d 0)"
expect_fail "manifest unknown" pull "$R/test/single:nosuchtag"

# images lists what we pulled, docker's columns.
sm images
[ "$RC" = 0 ] || fail "images: $(cat "$ERR")"
head -1 "$OUT" | grep -q '^REPOSITORY *TAG *IMAGE ID *CREATED *SIZE' || fail "images header: $(head -1 "$OUT")"
grep -q "^$R/test/multi  *latest " "$OUT" || fail "images lacks test/multi: $(cat "$OUT")"
[ "$(grep -c "^$R/test/" "$OUT")" = 5 ] || fail "images: expected 5 entries: $(cat "$OUT")"

# rmi: the name goes, blobs only it used go, blobs still used stay.
multi_layers=$(inspect_field "$R/test/multi" '" ".join(d["RootFS"]["diff_ids"])')
nblobs_before=$(ls "$SUPERMACHINE_HOME/blobs/sha256" | wc -l)
sm rmi "$R/test/multi"
[ "$RC" = 0 ] || fail "rmi: $(cat "$ERR")"
grep -q "^Untagged: $R/test/multi:latest" "$OUT" || fail "rmi output: $(cat "$OUT")"
expect_fail "no such image" inspect "$R/test/multi"
nblobs_after=$(ls "$SUPERMACHINE_HOME/blobs/sha256" | wc -l)
[ "$nblobs_after" -lt "$nblobs_before" ] || fail "rmi collected no blobs"
sm inspect "$R/test/single:1"
[ "$RC" = 0 ] || fail "rmi of multi broke single"
store_check
expect_fail "no such image" rmi "$R/test/multi"

# rmi names what it untagged as docker does: Docker Hub's names short.
sm tag "$R/test/single:1" my/thing:v2
sm tag "$R/test/single:1" thing
sm rmi my/thing:v2 docker.io/library/thing:latest
[ "$RC" = 0 ] && [ "$(cat "$OUT")" = "Untagged: my/thing:v2
Untagged: thing:latest" ] || fail "rmi of Docker Hub names: $RC $(cat "$OUT" "$ERR")"

# rmi by image ID removes every name of that image.
id=$(inspect_field "$R/test/single:1" 'd["Id"][7:19]')
sm rmi "$id"
[ "$RC" = 0 ] || fail "rmi by id: $(cat "$ERR")"
grep -q "Untagged: $R/test/single:1" "$OUT" || fail "rmi by id did not untag single:1"

# Resume: a partial download left by an interrupted pull (its first half) is completed;
# a partial with wrong bytes is discarded and the blob fetched again.
manifest=$(skopeo inspect --raw --tls-verify=false "docker://$R/test/multi:latest")
layer=$(echo "$manifest" | python3 -c 'import json,sys; print(json.load(sys.stdin)["layers"][1]["digest"][7:])')
blob=$REGDIR_a/data/docker/registry/v2/blobs/sha256/${layer:0:2}/$layer/data
[ -f "$blob" ] || fail "registry blob layout unexpected"
size=$(stat -c %s "$blob")
head -c $((size / 2)) "$blob" >"$SUPERMACHINE_HOME/tmp/$layer.partial"
sm pull "$R/test/multi"
[ "$RC" = 0 ] || fail "pull resuming a partial: $(cat "$ERR")"
[ ! -e "$SUPERMACHINE_HOME/tmp/$layer.partial" ] || fail "partial left behind"
store_check
sm rmi "$R/test/multi"
head -c $((size / 2)) /dev/urandom >"$SUPERMACHINE_HOME/tmp/$layer.partial"
sm pull "$R/test/multi"
[ "$RC" = 0 ] || fail "pull over a corrupt partial: $(cat "$ERR")"
store_check

# Concurrent pulls of one image into one store.
sm rmi "$R/test/multi"
pids=""
for i in 1 2 3 4; do
    timeout 120 "$SUPERMACHINE" pull -q "$R/test/multi" >"$WORK/c$i.out" 2>"$WORK/c$i.err" &
    pids="$pids $!"
done
for p in $pids; do wait "$p" || fail "a concurrent pull failed: $(cat "$WORK"/c*.err)"; done
store_check
sm images
[ "$(grep -c "^$R/test/multi " "$OUT")" = 1 ] || fail "after concurrent pulls: $(cat "$OUT")"
python3 -c "import json; n=[i['name'] for i in json.load(open('$SUPERMACHINE_HOME/images.json'))['images']]; assert len(n)==len(set(n)), n"

# A registry that is not there: one line, 125.
expect_fail "127.0.0.1:1/x" pull 127.0.0.1:1/x
echo PASS
