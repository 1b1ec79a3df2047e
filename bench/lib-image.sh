# shellcheck shell=bash
# Benchmark images: a realistic multi-layer Debian image built from Debian's own packages
# (debootstrap --variant=minbase bookworm, then apt-get in a chroot), layered with umoci
# and cached as an OCI layout under $SM_BENCH_CACHE, keyed by BENCH_IMAGE_VERSION (bump it
# whenever the recipe below changes). Building needs root (debootstrap, chroot, owners).
# Source after `set -eu`.

SM_BENCH_CACHE=${SM_BENCH_CACHE:-$HOME/.cache/supermachine-bench}
BENCH_IMAGE_VERSION=debian-bookworm-4layers-v2
BENCH_DEBIAN_MIRROR=${BENCH_DEBIAN_MIRROR:-http://deb.debian.org/debian}

# bench_need_packages PKG...: installs the Debian packages that are missing (idempotent:
# nothing is downloaded when all are there), as scripts/install-deps does.
bench_need_packages() {
    local p missing=()
    for p in "$@"; do
        dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed' || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    local sudo=""
    [ "$(id -u)" = 0 ] || sudo=sudo
    echo "installing: ${missing[*]}" >&2
    $sudo apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# The proxy apt uses, if any, so that debootstrap and the chroot's apt-get go the same way.
bench_apt_proxy() {
    apt-config dump 2>/dev/null | sed -n 's/^Acquire::http::Proxy "\(.*\)";$/\1/p' | head -n 1
}

# _bench_chroot_apt ROOT PKG...: apt-get install PKG... inside ROOT as a Dockerfile's
# `RUN apt-get update && apt-get install ... && rm -rf /var/lib/apt/lists/*` would.
_bench_chroot_apt() {
    local root=$1
    shift
    DEBIAN_FRONTEND=noninteractive chroot "$root" sh -ec '
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends "$@" >/dev/null
        apt-get clean
        rm -rf /var/lib/apt/lists/*' sh "$@"
}

# bench_debian_image: prints the path of the cached OCI layout (tag "1"), building it first
# if needed. Layers (gzip, as umoci writes them):
#   1. debootstrap --variant=minbase bookworm
#   2. python3 (apt-get install)
#   3. nginx-light redis-server perl (apt-get install)
#   4. a small "application" layer: files added, some removed (whiteouts), one replaced
bench_debian_image() {
    local dir=$SM_BENCH_CACHE/$BENCH_IMAGE_VERSION
    if [ -f "$dir/done" ]; then
        echo "$dir/oci"
        return 0
    fi
    [ "$(id -u)" = 0 ] || { echo "bench: building the Debian image needs root (debootstrap)" >&2; return 1; }
    bench_need_packages debootstrap umoci debian-archive-keyring
    mkdir -p "$SM_BENCH_CACHE"
    local tmp proxy
    tmp=$(mktemp -d "$SM_BENCH_CACHE/.build.XXXXXX")
    proxy=$(bench_apt_proxy)
    echo "bench: building $BENCH_IMAGE_VERSION in $tmp (once; a few minutes)" >&2
    if ! (
        set -e
        cd "$tmp"
        r=$tmp/b/rootfs
        trap 'umount "$r/proc" 2>/dev/null || true' EXIT
        [ -z "$proxy" ] || export http_proxy=$proxy
        umoci init --layout oci
        umoci new --image oci:1
        umoci unpack --image oci:1 b
        debootstrap --variant=minbase bookworm "$r" "$BENCH_DEBIAN_MIRROR"
        # As Debian's official images: no package lists or caches in the image.
        rm -rf "$r"/var/cache/apt/archives/*.deb "$r"/var/cache/apt/*.bin "$r"/var/lib/apt/lists/*
        umoci repack --refresh-bundle --history.created_by "debootstrap --variant=minbase bookworm" \
            --image oci:1 b

        # The chroot's apt: this machine's DNS and proxy; no daemons started by postinst;
        # the mirror may serve a snapshot whose Release is past its Valid-Until.
        mount -t proc proc "$r/proc"
        cp /etc/resolv.conf "$r/etc/resolv.conf"
        printf '#!/bin/sh\nexit 101\n' >"$r/usr/sbin/policy-rc.d"
        chmod 755 "$r/usr/sbin/policy-rc.d"
        {
            echo 'Acquire::Check-Valid-Until "false";'
            [ -z "$proxy" ] || echo "Acquire::http::Proxy \"$proxy\";"
        } >"$r/etc/apt/apt.conf.d/99bench"
        _bench_chroot_apt "$r" python3
        umount "$r/proc"
        umoci repack --refresh-bundle --history.created_by "apt-get install python3" --image oci:1 b

        mount -t proc proc "$r/proc"
        _bench_chroot_apt "$r" nginx-light redis-server perl
        umount "$r/proc"
        rm -f "$r/usr/sbin/policy-rc.d" "$r/etc/apt/apt.conf.d/99bench"
        umoci repack --refresh-bundle --history.created_by "apt-get install nginx-light redis-server perl" \
            --image oci:1 b

        mkdir -p "$r/app/static"
        cat >"$r/app/server.py" <<'PY'
import http.server, socketserver
socketserver.TCPServer(("", 8000), http.server.SimpleHTTPRequestHandler).serve_forever()
PY
        head -c 2000000 /dev/urandom >"$r/app/static/blob.bin"
        for i in $(seq 200); do echo "page $i" >"$r/app/static/page-$i.html"; done
        rm -rf "$r/usr/share/doc/perl" "$r/usr/share/man/man3" "$r/var/log/apt"
        echo 'daemonize no' >>"$r/etc/redis/redis.conf"
        ln -s /app/server.py "$r/usr/local/bin/serve"
        umoci repack --refresh-bundle --history.created_by "app" --image oci:1 b
        umoci config --image oci:1 --config.workingdir /app --config.cmd python3 \
            --config.cmd /app/server.py --config.exposedports 8000/tcp
        rm -rf b
        umoci gc --layout oci
    ) >"$tmp/build.log" 2>&1; then
        tail -n 30 "$tmp/build.log" >&2
        umount "$tmp/b/rootfs/proc" 2>/dev/null || true
        rm -rf --one-file-system "$tmp"
        echo "bench: building the Debian image failed" >&2
        return 1
    fi
    touch "$tmp/done"
    rm -rf "$dir"
    mv "$tmp" "$dir"
    echo "$dir/oci"
}
