# Shared benchmark helpers. Benchmarks print absolute figures and the ratio of ours to the
# anchor measured in the same run; they never fail on speed.

SM_REPO=${SM_REPO:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
SUPERMACHINE=${SUPERMACHINE:-$SM_REPO/build/supermachine}

# The instruments run inside bash: a process per clock reading (`date`), pause (`sleep`)
# or HTTP try (`curl`) costs 50 ms to 1 s to start in the emulated host, which would be
# counted as ours or the anchor's time.

# A forwarded port (QEMU's hostfwd, ours) accepts before the guest listens and then
# resets: http_answers' write must fail that try, not kill the benchmark with SIGPIPE
# (seen in bench/snapshot's QEMU anchor, whose shell died of it).
trap '' PIPE

# clock_us VAR: sets VAR to the wall clock in microseconds.
clock_us() { printf -v "$1" '%s' "${EPOCHREALTIME/./}"; }

# bench_pause SECONDS: waits on a FIFO nobody writes to.
bench_pause_fifo=$(mktemp -u)
mkfifo "$bench_pause_fifo"
exec {bench_pause_fd}<>"$bench_pause_fifo"
rm -f "$bench_pause_fifo"
bench_pause() { read -r -t "$1" -u "$bench_pause_fd" _ || true; }

# http_answers PORT: whether an HTTP server on 127.0.0.1:PORT answers GET / with 200.
http_answers() {
    local line=
    exec {http_fd}<>"/dev/tcp/127.0.0.1/$1" || return 1
    printf 'GET / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&"$http_fd" 2>/dev/null
    IFS= read -r -t 2 -u "$http_fd" line || true
    exec {http_fd}<&-
    [[ $line == "HTTP/1."?" 200"* ]]
}

# ms_to_marker MARKER CMD...: runs CMD, returns (prints) the milliseconds from its start
# until a line of its output contains MARKER; then kills it. Prints "NA" if it never did.
ms_to_marker() {
    local marker=$1
    shift
    local fifo
    fifo=$(mktemp -u)
    mkfifo "$fifo"
    local start end
    clock_us start
    "$@" >"$fifo" 2>&1 </dev/null &
    local pid=$!
    local got=NA
    while IFS= read -r line; do
        case $line in
        *"$marker"*)
            clock_us end
            got=$(((end - start) / 1000))
            break
            ;;
        esac
    done <"$fifo"
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    rm -f "$fifo"
    echo "$got"
}

# median of the arguments (numbers)
median() {
    printf '%s\n' "$@" | grep -v NA | sort -n | awk '{ a[NR] = $1 } END {
        if (NR == 0) { print "NA"; exit }
        if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}

# ratio A B: A / B with 3 decimals
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "NA" || b == "NA" || b == 0) print "NA"; else printf "%.3f\n", a / b }'; }

bench_initrd() {
    local d
    for d in "$(dirname "$SUPERMACHINE")" "$SM_REPO/build" "$SM_REPO/build-asan"; do
        [ -f "$d/tests/fixtures/testinit.cpio.gz" ] && { echo "$d/tests/fixtures/testinit.cpio.gz"; return; }
    done
    echo "no testinit.cpio.gz; build first" >&2
    return 1
}

# The kernel both we and the anchor boot.
bench_kernel() { "$SUPERMACHINE" kernel --path; }

host_kind() {
    if [ -z "${SM_EMULATED:-}" ] && grep -qwE 'vmx|svm' /proc/cpuinfo && [ -w /dev/kvm ]; then
        echo "native KVM"
    else
        echo "emulated host (KVM nested under QEMU TCG: absolute times are 10-50x native)"
    fi
}
