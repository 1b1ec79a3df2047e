#!/usr/bin/env bash
# needs: kvm
# timeout: 900
# prepare: lib-run.sh run_fixture
# top and stats, as docker's: top lists the workload's processes and its execs' (users,
# parents, command lines as the guest's kernel has them), not supermachine's init and
# agent; ps -ef's columns by default, aux's and -o's on request; the processes stats
# counts are those top lists; a VM busy with a loop shows more CPU than an idle one;
# memory is the guest's, its limit its RAM; bytes the guest received over the network
# grow with a download; a paused VM gives --; a stopped VM, an unknown one and an
# option not supported are refused with one line and 125.
set -eu
. "$(dirname "$0")/lib-run.sh"
run_setup --baked
I=$RUN_IMAGE

p=$(free_port)
sm run -d --name tp -p "$p:8080" "$I" sh -c \
    'mkdir -p /www && head -c 3000000 /dev/zero >/www/big; sleep 3001 & exec httpd -f -p 8080 -h /www'
[ "$RC" = 0 ] || fail "run -d tp: exit $RC: $(cat "$ERR")"
wait_for 120 curl -sf -o /dev/null "http://127.0.0.1:$p/big" || fail "tp never served"
sm run -d --name idle "$I" sleep 3002
[ "$RC" = 0 ] || fail "run -d idle: exit $RC: $(cat "$ERR")"
# An exec as another user, left running beside the main process.
timeout 600 "$SUPERMACHINE" exec -u nobody tp sleep 3003 >/dev/null 2>&1 &
exec_pid=$!
wait_for 120 sh -c "'$SUPERMACHINE' top tp | grep -q 'sleep 3003'" || fail "the exec's process never listed"

sm top tp
[ "$RC" = 0 ] || fail "top tp: exit $RC: $(cat "$ERR")"
cat "$OUT"
head -n 1 "$OUT" | grep -qE '^UID +PID +PPID +C +STIME +TTY +TIME +CMD$' || fail "top's header: $(head -n 1 "$OUT")"
# httpd is the main process (sh exec'd it), the parent of the sleep sh started first.
httpd=$(awk '$8 == "httpd" { print $2 }' "$OUT")
[ -n "$httpd" ] || fail "no httpd in top"
awk -v h="$httpd" '$1 == "root" && $3 == h && $8 == "sleep" && $9 == 3001' "$OUT" | grep -q . ||
    fail "sleep 3001 is not listed as root, a child of httpd ($httpd)"
awk '$1 == "nobody" && $8 == "sleep" && $9 == 3003' "$OUT" | grep -q . || fail "the exec's sleep is not nobody's"
awk 'NR > 1 && ($2 == 1 || $8 ~ /sm-init|^init$/)' "$OUT" | grep -q . && fail "top lists supermachine's own processes"
listed=$(($(wc -l <"$OUT") - 1))

sm top tp aux
head -n 1 "$OUT" | grep -qE '^USER +PID +%CPU +%MEM +VSZ +RSS +TTY +STAT +START +TIME +COMMAND$' ||
    fail "top aux's header: $(head -n 1 "$OUT")"
awk '$11 == "sleep" && $12 == 3001 && $6 > 0 && $8 ~ /^[SR]$/' "$OUT" | grep -q . || fail "top aux: $(cat "$OUT")"
sm top tp -o pid,comm,nlwp=THREADS
head -n 1 "$OUT" | grep -qE '^PID +COMMAND +THREADS$' && grep -qE "^$httpd +httpd +1$" "$OUT" ||
    fail "top -o: $(cat "$OUT")"

# stats: the processes top listed; the guest's memory against its RAM; the idle VM too.
sm stats --no-stream --format '{{.Name}} {{.PIDs}} {{.MemUsage}} {{.NetIO}} {{.BlockIO}} {{.CPUPerc}}' tp
[ "$RC" = 0 ] || fail "stats tp: exit $RC: $(cat "$ERR")"
read -r name pids used _ limit _ _ _ rd _ _ _ <"$OUT"
[ "$name" = tp ] && [ "$pids" = "$listed" ] || fail "stats tp says $pids processes, top listed $listed: $(cat "$OUT")"
case $limit in *MiB) ;; *) fail "stats' memory limit: $limit" ;; esac
lim=${limit%MiB} && lim=${lim%.*}
[ "$lim" -gt 400 ] && [ "$lim" -le 512 ] || fail "the memory limit of a 512 MiB guest: $limit"
case $used in *MiB | *KiB) ;; *) fail "stats' memory in use: $used" ;; esac
case $rd in 0B) fail "no bytes read from the guest's disk: $(cat "$OUT")" ;; esac
echo "stats tp: $(cat "$OUT")"
# 3 MB more through the guest's network interface: its sent bytes grow by that much.
tx_bytes() {
    "$SUPERMACHINE" stats --no-stream --format '{{.NetIO}}' tp | awk '{ v = $3; m = 1
        if (v ~ /kB$/) m = 1e3; else if (v ~ /MB$/) m = 1e6; else if (v ~ /GB$/) m = 1e9
        sub(/[kMG]?B$/, "", v); printf "%d\n", v * m }'
}
before=$(tx_bytes)
curl -sf -o /dev/null "http://127.0.0.1:$p/big" || fail "download"
after=$(tx_bytes)
[ "$((after - before))" -ge 2900000 ] || fail "the guest's sent bytes grew from $before to $after over a 3 MB download"

# A loop in one VM: its CPU figure is above the idle VM's.
timeout 600 "$SUPERMACHINE" exec tp sh -c 'while :; do :; done' >/dev/null 2>&1 &
loop_pid=$!
sleep 3
sm stats --no-stream --format '{{.Name}} {{.CPUPerc}}'
[ "$RC" = 0 ] || fail "stats: exit $RC: $(cat "$ERR")"
echo "stats with a loop in tp: $(tr '\n' ' ' <"$OUT")"
[ "$(wc -l <"$OUT")" = 2 ] || fail "stats lists the running VMs: $(cat "$OUT")"
busy=$(awk '$1 == "tp" { print int($2) }' "$OUT") calm=$(awk '$1 == "idle" { print int($2) }' "$OUT")
[ "$busy" -ge 30 ] && [ "$busy" -gt "$((calm + 20))" ] || fail "CPU: tp with a loop $busy%, idle $calm%"
kill "$loop_pid" "$exec_pid" 2>/dev/null || true

# The default table, docker's columns.
sm stats --no-stream
head -n 1 "$OUT" | grep -qE '^CONTAINER ID +NAME +CPU % +MEM USAGE / LIMIT +MEM % +NET I/O +BLOCK I/O +PIDS$' ||
    fail "stats' header: $(head -n 1 "$OUT")"

# Paused: its figures are --; top is refused.
expect 0 tp -- pause tp
sm stats --no-stream --format '{{.Name}} {{.CPUPerc}} {{.PIDs}}' tp
[ "$RC" = 0 ] && grep -qx 'tp -- --' "$OUT" || fail "stats of a paused VM: exit $RC: $(cat "$OUT" "$ERR")"
sm top tp
[ "$RC" = 125 ] && [ "$(wc -l <"$ERR")" = 1 ] && grep -q "tp: the VM is paused" "$ERR" || fail "top of a paused VM: exit $RC: $(cat "$ERR")"
expect 0 tp -- unpause tp

# Refused, one line each.
expect 0 idle -- stop -t 1 idle
for args in "top idle" "top no-such-vm" "top tp -L" "top tp -o nope" "stats --no-stream no-such-vm" "top"; do
    # shellcheck disable=SC2086 # words
    sm $args
    [ "$RC" = 125 ] && [ "$(wc -l <"$ERR")" = 1 ] || fail "$args: exit $RC: $(cat "$ERR")"
    echo "$args: $(cat "$ERR")"
done
sm stats --no-stream -a --format '{{.Name}} {{.CPUPerc}}'
grep -qx 'idle --' "$OUT" && grep -q '^tp ' "$OUT" || fail "stats -a: $(cat "$OUT")"
expect 0 tp -- rm -f tp
echo "top and stats: processes, users, parents, ps formats, counts, memory, network, CPU, paused, refusals"
