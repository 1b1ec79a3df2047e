# A real-world image for the `run` tests: Debian bookworm (mmdebstrap --variant=minbase)
# with Debian's nginx, configured as docker's official nginx image (nginx in the
# foreground, port 80, StopSignal SIGQUIT, logs on stdout and stderr), packed as an OCI
# layout archive with umoci and cached in $SM_TEST_CACHE. Needs Debian's mirror (reached
# through apt's configured sources) the first time only. Source after lib-run.sh (it
# sources lib-run.sh itself when it is not, as tests/run's "# prepare:" line does).

declare -F run_setup >/dev/null || . "$(dirname "${BASH_SOURCE[0]}")/lib-run.sh"
NGINX_IMAGE=localhost/nginx:bookworm
# The index page's test-specific line (docker's image serves "Welcome to nginx!" too).
NGINX_PAGE_MARKER="served by Debian's nginx in a supermachine VM"

# debian_nginx_fixture: sets NGINX_IMAGE_TAR, building it if the cache lacks it (a few
# minutes: a Debian root from the mirror). Built on the real host before the emulated one
# boots (a test's "# prepare:" line), where the cache is writable and the mirror reachable.
# The cache key is this function's text and the page's marker: a changed recipe rebuilds.
debian_nginx_fixture() {
    local key
    key=$( (sed -n '/^debian_nginx_fixture()/,/^}/p' "${BASH_SOURCE[0]}"; echo "$NGINX_PAGE_MARKER") |
        sha256sum | cut -c1-16)
    NGINX_IMAGE_TAR=$SM_TEST_CACHE/debian-nginx-$key.tar
    [ -f "$NGINX_IMAGE_TAR" ] && return 0
    command -v mmdebstrap >/dev/null || fail "mmdebstrap is not installed (scripts/packages.txt)"
    command -v umoci >/dev/null || fail "umoci is not installed (scripts/packages.txt)"
    local d start=$SECONDS
    mkdir -p "$SM_TEST_CACHE"
    d=$(mktemp -d)
    (
        set -e
        cd "$d"
        printf '<!DOCTYPE html>\n<html>\n<head><title>Welcome to nginx!</title></head>\n<body>\n<h1>Welcome to nginx!</h1>\n<p>%s</p>\n</body>\n</html>\n' \
            "$NGINX_PAGE_MARKER" >index.html
        # merged-usr: /usr merged as Debian's own images are, without the usrmerge package
        # (which would pull in perl). Documentation, man pages and translations are not
        # unpacked; mmdebstrap removes apt's lists and package cache itself. As docker's
        # image: the logs are the container's stdout and stderr. /private, a directory
        # without an index, is refused (403) with a line in the error log.
        mmdebstrap --variant=minbase --include=nginx \
            --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
            --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
            --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/info/*' \
            --dpkgopt='path-exclude=/usr/share/locale/*' \
            --customize-hook="upload $d/index.html /var/www/html/index.html" \
            --customize-hook='chmod 644 "$1/var/www/html/index.html"' \
            --customize-hook='mkdir -m 755 "$1/var/www/html/private"' \
            --customize-hook='ln -sf /dev/stdout "$1/var/log/nginx/access.log"' \
            --customize-hook='ln -sf /dev/stderr "$1/var/log/nginx/error.log"' \
            --customize-hook='rm -f "$1"/var/cache/debconf/*-old "$1"/var/lib/dpkg/*-old' \
            bookworm root.tar http://deb.debian.org/debian </dev/null
        # No device nodes in a layer (docker's images have an empty /dev: the runtime
        # mounts its own).
        tar --delete --wildcards -f root.tar './dev/?*'
        # The layer is mmdebstrap's archive as it is: owners (root, www-data, shadow,
        # mail...) and modes (setuid, setgid) kept.
        umoci init --layout layout
        umoci new --image layout:img
        umoci raw add-layer --image layout:img root.tar
        umoci config --image layout:img \
            --config.env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
            --config.cmd nginx --config.cmd -g --config.cmd 'daemon off;' \
            --config.exposedports 80/tcp --config.stopsignal SIGQUIT
        umoci gc --layout layout
        python3 - "$NGINX_IMAGE" <<'PY'
import json, sys
idx = json.load(open("layout/index.json"))
for m in idx["manifests"]:
    m.setdefault("annotations", {})["org.opencontainers.image.ref.name"] = sys.argv[1]
json.dump(idx, open("layout/index.json", "w"))
PY
        tar -C layout -cf image.tar .
    ) >"$d.log" 2>&1 || { cat "$d.log" >&2; rm -rf "$d" "$d.log"; fail "building the Debian nginx image"; }
    mv "$d/image.tar" "$NGINX_IMAGE_TAR"
    rm -rf "$d" "$d.log"
    echo "built $NGINX_IMAGE_TAR ($(du -h "$NGINX_IMAGE_TAR" | cut -f1)) in $((SECONDS - start)) s" >&2
}
