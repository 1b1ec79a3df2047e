# Helpers for the `run` tests: a busybox image (every applet, users root/app/nobody) as an
# OCI layout archive built with umoci and cached in $SM_TEST_CACHE, and a private store
# that shares the real store's guest kernel. Source after `set -eu`.

SM_REPO=${SM_REPO:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
SUPERMACHINE=${SUPERMACHINE:-$SM_REPO/build/supermachine}
SM_TEST_CACHE=${SM_TEST_CACHE:-$HOME/.cache/supermachine-tests}
RUN_IMAGE=localhost/runtest:1
RUN_IMAGE_STOPSIG=localhost/runtest:stopsig # the same with StopSignal SIGUSR1
# A command that fails under `set -e` says where, rather than ending the test silently.
set -E
trap 'echo "FAIL: line $LINENO: $BASH_COMMAND (status $?)" >&2' ERR

fail() {
    echo "FAIL: $*" >&2
    # The guests' own account of what happened.
    local f
    for f in "${WORK:-/nonexistent}"/store/vms/*/console.log "${WORK:-/nonexistent}"/store/vms/*/output.log \
        "${WORK:-/nonexistent}"/store/vms/*/vmm.log; do
        [ -f "$f" ] && { echo "--- $f" >&2; tail -n 15 "$f" | cut -c1-300 >&2; }
    done
    exit 1
}

# run_fixture: sets RUN_IMAGE_TAR, building it if the cache lacks it. Built on the real
# host before the emulated one boots (tests/run calls it), where the cache is writable.
run_fixture() {
    local key
    key=$( (sed -n '/^run_fixture()/,/^}/p' "${BASH_SOURCE[0]}"; sha256sum /bin/busybox) |
        sha256sum | cut -c1-16)
    RUN_IMAGE_TAR=$SM_TEST_CACHE/run-busybox-$key.tar
    [ -f "$RUN_IMAGE_TAR" ] && return 0
    # A fresh machine has no cache yet (scripts/setup comes here before tests/run ever ran).
    mkdir -p "$SM_TEST_CACHE"
    local d
    d=$(mktemp -d)
    (
        set -e
        cd "$d"
        umoci init --layout layout
        umoci new --image layout:img
        umoci unpack --rootless --image layout:img b
        mkdir -p b/rootfs/bin b/rootfs/etc b/rootfs/tmp b/rootfs/root b/rootfs/home/app
        cp /bin/busybox b/rootfs/bin/busybox
        for a in $(/bin/busybox --list); do [ -e "b/rootfs/bin/$a" ] || ln -s busybox "b/rootfs/bin/$a"; done
        printf 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >b/rootfs/etc/passwd
        printf 'root:x:0:\napp:x:1000:\nstaff:x:50:app\nnogroup:x:65534:\n' >b/rootfs/etc/group
        echo "from-the-image" >b/rootfs/etc/motd
        umoci repack --image layout:img b
        umoci config --image layout:img --config.cmd /bin/sh --config.cmd -c \
            --config.cmd 'echo default-cmd GREETING=$GREETING pwd=$(pwd)' \
            --config.env PATH=/bin --config.env GREETING=hi --config.workingdir /tmp \
            --config.label org.example.origin=fixture --config.label team=image-team
        umoci config --image layout:img --tag stopsig --config.stopsignal SIGUSR1
        umoci gc --layout layout
        python3 - "$RUN_IMAGE" "$RUN_IMAGE_STOPSIG" <<'PY'
import json, sys
idx = json.load(open("layout/index.json"))
names = {"img": sys.argv[1], "stopsig": sys.argv[2]}
for m in idx["manifests"]:
    a = m.setdefault("annotations", {})
    a["org.opencontainers.image.ref.name"] = names[a["org.opencontainers.image.ref.name"]]
json.dump(idx, open("layout/index.json", "w"))
PY
        tar -C layout -cf image.tar .
    ) >"$d.log" 2>&1 || { cat "$d.log" >&2; rm -rf "$d" "$d.log"; fail "building the run test image"; }
    mv "$d/image.tar" "$RUN_IMAGE_TAR"
    rm -rf "$d" "$d.log"
}

# run_store DIR: a store in DIR holding the test image and the real store's kernel
# (RUN_KERNEL, set by run_setup).
run_store() {
    local ver
    ver=$(basename "$(dirname "$RUN_KERNEL")")
    mkdir -p "$1/kernel"
    ln -s "$(dirname "$RUN_KERNEL")" "$1/kernel/$ver"
    ln -s "$ver" "$1/kernel/current"
    SUPERMACHINE_HOME=$1 "$SUPERMACHINE" load -i "$RUN_IMAGE_TAR" >/dev/null
}

# run_golden: the store run_setup --baked copies, built once per SM_TEST_GOLDEN (tests/run
# gives each run, and each boot of the emulated host, a directory of its own): the test
# image whose first run baked its init-ready snapshot (default memory, 512 MiB; one vCPU).
# Under a lock: the first test to want it builds it.
run_golden() {
    local g=$SM_TEST_GOLDEN
    mkdir -p "$g"
    (
        flock 9
        [ -f "$g/ready" ] && exit 0
        rm -rf "$g/store"
        run_store "$g/store" &&
            SUPERMACHINE_HOME=$g/store timeout -s KILL 600 "$SUPERMACHINE" run --rm "$RUN_IMAGE" true </dev/null &&
            touch "$g/ready"
    ) 9>"$g/lock" >>"$g/build.log" 2>&1
}

# run_setup [--baked]: a private store holding the test image and the real store's kernel.
# --baked (for tests whose subject is not the first boot, which takes tens of seconds in
# the emulated host): with SM_TEST_GOLDEN set, the store starts as a copy of run_golden's,
# its snapshots included; without it, or if that store could not be built, as without.
run_setup() {
    command -v umoci >/dev/null || { echo "skip: umoci not installed" >&2; exit 77; }
    run_fixture
    RUN_KERNEL=$("$SUPERMACHINE" kernel --path) # the real store's, before ours is set
    WORK=$(mktemp -d)
    trap run_cleanup EXIT
    export SUPERMACHINE_HOME=$WORK/store
    # A cold boot under the emulated host takes 25-60 s (two tests side by side); one that
    # stalls there (docs/testing.md) is given up after 150 s, and the test runs again.
    export SUPERMACHINE_AGENT_TIMEOUT=${SUPERMACHINE_AGENT_TIMEOUT:-150}
    if [ "${1:-}" = --baked ] && [ -n "${SM_TEST_GOLDEN:-}" ]; then
        # A copy, not hard links: a test may damage its own store's files in place.
        if run_golden && cp -a "$SM_TEST_GOLDEN/store" "$SUPERMACHINE_HOME"; then
            return 0
        fi
        echo "note: the baked store could not be made ($(tail -n 1 "$SM_TEST_GOLDEN/build.log" 2>/dev/null)); booting" >&2
        rm -rf "$SUPERMACHINE_HOME"
    fi
    run_store "$SUPERMACHINE_HOME" || fail "load the test image"
}

run_cleanup() {
    # Stop whatever a failed test left running, then drop the store.
    if [ -n "${WORK:-}" ] && [ -d "$WORK/store/vms" ]; then
        for v in $("$SUPERMACHINE" ps -q 2>/dev/null); do "$SUPERMACHINE" rm -f "$v" >/dev/null 2>&1 || true; done
    fi
    [ -n "${WORK:-}" ] && rm -rf "$WORK"
}

# sm ARGS...: runs supermachine; sets RC, OUT (stdout file) and ERR (stderr file).
sm() {
    OUT=$WORK/out ERR=$WORK/err RC=0
    timeout -s KILL 300 "$SUPERMACHINE" "$@" >"$OUT" 2>"$ERR" </dev/null || RC=$?
}

# expect RC TEXT -- ARGS...: supermachine ARGS must exit RC and print TEXT (a line) on stdout.
expect() {
    local rc=$1 text=$2
    shift 3
    sm "$@"
    [ "$RC" = "$rc" ] || fail "supermachine $*: exit $RC, want $rc; stderr: $(head -c 2000 "$ERR")"
    grep -qxF -- "$text" "$OUT" || fail "supermachine $*: stdout lacks '$text': $(head -c 2000 "$OUT")"
}

# now_ms: the wall clock in milliseconds (for the figures tests print, never assert).
now_ms() { echo $(($(date +%s%N) / 1000000)); }

# wait_for SECS CMD...: runs CMD every 0.2 s until it succeeds (status 0) or SECS have
# passed (status 1), however long CMD itself takes.
wait_for() {
    local deadline=$((SECONDS + $1))
    shift
    while [ $SECONDS -lt $deadline ]; do "$@" && return 0; sleep 0.2; done
    return 1
}

# free_port: a TCP port free on 127.0.0.1 right now.
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# wait_http URL [TRIES]: prints the page once the guest serves it (TRIES tries, 0.5 s
# apart, default 120); status 1 if it never did.
wait_http() {
    local i
    for i in $(seq "${2:-120}"); do
        curl -sf --max-time 10 "$1" 2>/dev/null && return 0
        sleep 0.5
    done
    return 1
}

# vmm_own_kib PID RAM_MIB: the VMM's own resident memory in KiB: every mapping's but the
# guest RAM's (one mapping of exactly RAM_MIB).
vmm_own_kib() {
    python3 - "$1" "$2" <<'PY'
import sys
pid, ram_kib = sys.argv[1], int(sys.argv[2]) * 1024
total = size = 0
for line in open(f"/proc/{pid}/smaps"):
    f = line.split()
    if f[0] == "Size:":
        size = int(f[1])
    elif f[0] == "Rss:" and size != ram_kib:
        total += int(f[1])
print(total)
PY
}

# ms_since T0: milliseconds since T0 (from date +%s%N).
ms_since() { echo $((($(date +%s%N) - $1) / 1000000)); }

# stop_within_5s VM VMM_PID WHAT: `stop -t 1 VM` ends it, and its VMM, within 5 s (while
# WHAT goes on in the guest).
stop_within_5s() {
    local t0 ms
    t0=$(date +%s%N)
    sm stop -t 1 "$1"
    ms=$(ms_since "$t0")
    [ "$RC" = 0 ] || fail "stop: $(cat "$ERR")"
    echo "stop during $3: $ms ms"
    [ "$ms" -lt 5000 ] || fail "stop took $ms ms"
    [ ! -d "/proc/$2" ] || grep -q "^State:.*Z" "/proc/$2/status" ||
        fail "the VMM $2 is still there after stop"
}

# vmm_pid_of ID: the pid of VM ID's VMM process (its state.json).
vmm_pid_of() {
    python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["vmm_pid"])' \
        "$SUPERMACHINE_HOME/vms/$1/state.json"
}
