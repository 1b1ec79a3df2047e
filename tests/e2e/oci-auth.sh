#!/bin/bash
# Registry authentication against a real docker-registry: htpasswd basic auth and token
# auth (a small token server issuing JWTs), credentials read from a temporary
# ~/.docker/config.json as base64 `auth`, as username/password, and through the
# docker-credential-<helper> protocol (credHelpers and credsStore).
set -eu
. "$(dirname "$0")/lib-registry.sh"
reg_setup
reg_fixtures
reg_start basic basic
reg_start token token
B=$REG_basic T=$REG_token
skopeo copy --quiet --dest-tls-verify=false --dest-creds alice:s3cret "oci:$FIX/layout:single" \
    "docker://$B/priv/img:1" >/dev/null || fail "push to basic registry"
skopeo copy --quiet --dest-tls-verify=false --dest-creds alice:s3cret "oci:$FIX/layout:single" \
    "docker://$T/priv/img:1" >/dev/null || fail "push to token registry"
mkdir -p "$HOME/.docker"
config() { printf '%s' "$1" >"$HOME/.docker/config.json"; }
good=$(printf alice:s3cret | base64)
bad=$(printf alice:wrong | base64)

# No credentials: refused, one line.
expect_fail "unauthorized" pull "$B/priv/img:1" # anon
expect_fail "unauthorized" pull "$T/priv/img:1"

# Basic auth, base64 "auth".
config "{\"auths\":{\"$B\":{\"auth\":\"$good\"}}}"
sm pull "$B/priv/img:1"
[ "$RC" = 0 ] || fail "basic auth with auths.auth: $(cat "$ERR")"
# Wrong password.
config "{\"auths\":{\"$B\":{\"auth\":\"$bad\"}}}"
expect_fail "unauthorized" pull "$B/priv/img:1" # anon
# username/password fields, key written as a URL.
config "{\"auths\":{\"http://$B/v1/\":{\"username\":\"alice\",\"password\":\"s3cret\"}}}"
sm pull "$B/priv/img:1"
[ "$RC" = 0 ] || fail "basic auth with username/password: $(cat "$ERR")"

# Token auth with the credentials sent to the token server.
config "{\"auths\":{\"$T\":{\"auth\":\"$good\"}}}"
sm pull "$T/priv/img:1"
[ "$RC" = 0 ] || fail "token auth: $(cat "$ERR")"
config "{\"auths\":{\"$T\":{\"auth\":\"$bad\"}}}"
expect_fail "unauthorized" pull "$T/priv/img:1"

# A credential helper (docker's protocol: `get`, server URL on stdin, JSON on stdout).
mkdir -p "$WORK/bin"
cat >"$WORK/bin/docker-credential-test" <<HELPER
#!/bin/sh
[ "\$1" = get ] || exit 1
read -r url || true
echo "\$url" >>"$WORK/helper.log"
case "\$url" in
$B|$T) echo '{"ServerURL":"'"\$url"'","Username":"alice","Secret":"s3cret"}' ;;
*) echo "credentials not found in native keychain"; exit 1 ;;
esac
HELPER
chmod +x "$WORK/bin/docker-credential-test"
export PATH=$WORK/bin:$PATH
config "{\"credHelpers\":{\"$T\":\"test\"}}"
sm pull "$T/priv/img:1"
[ "$RC" = 0 ] || fail "credHelpers: $(cat "$ERR")"
grep -qx "$T" "$WORK/helper.log" || fail "the helper was not asked for $T"
config "{\"credsStore\":\"test\"}"
sm pull "$B/priv/img:1"
[ "$RC" = 0 ] || fail "credsStore: $(cat "$ERR")"
config "{\"credsStore\":\"absent\"}"
expect_fail "docker-credential-absent" pull "$B/priv/img:1"
config "{not json"
expect_fail "invalid JSON" pull "$B/priv/img:1"
store_check
echo PASS
