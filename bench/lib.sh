# Shared benchmark helpers. Benchmarks print absolute figures and the ratio of ours to the
# anchor measured in the same run; they never fail on speed.

SM_REPO=${SM_REPO:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
SUPERMACHINE=${SUPERMACHINE:-$SM_REPO/build/supermachine}

# ms_to_marker MARKER CMD...: runs CMD, returns (prints) the milliseconds from its start
# until a line of its output contains MARKER; then kills it. Prints "NA" if it never did.
ms_to_marker() {
    local marker=$1
    shift
    local fifo
    fifo=$(mktemp -u)
    mkfifo "$fifo"
    local start end
    start=$(date +%s%N)
    "$@" >"$fifo" 2>&1 </dev/null &
    local pid=$!
    local got=NA
    while IFS= read -r line; do
        case $line in
        *"$marker"*)
            end=$(date +%s%N)
            got=$(((end - start) / 1000000))
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
