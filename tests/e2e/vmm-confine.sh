#!/usr/bin/env bash
# needs: kvm
# timeout: 900
# prepare: lib-run.sh run_fixture
# The VMM process is confined (docs/security.md): no_new_privs, no capabilities, no core
# dumps, a seccomp filter on every thread and a second one, its role's, on the vCPU,
# device and network threads; and a confined VM does all a VM does: boots and bakes, is
# restored, runs exec, cp and network traffic, publishes a port, stops.
set -eu
. "$(dirname "$0")/lib-run.sh"
run_setup
I=$RUN_IMAGE

expect 0 "baked" -- run --rm "$I" echo baked
p=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
sm run -d --name c1 -p "127.0.0.1:$p:8080" "$I" sh -c \
    'mkdir -p /www && echo confined >/www/index.html && exec httpd -f -p 8080 -h /www'
[ "$RC" = 0 ] || fail "run -d: $RC $(cat "$ERR")"
id=$(cat "$OUT")
pid=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["vmm_pid"])' \
    "$SUPERMACHINE_HOME/vms/$id/state.json")
[ -d "/proc/$pid" ] || fail "no VMM process $pid"
st=/proc/$pid/status
grep -q "^NoNewPrivs:[[:space:]]*1$" "$st" || fail "NoNewPrivs: $(grep NoNewPrivs "$st")"
grep -q "^Seccomp:[[:space:]]*2$" "$st" || fail "Seccomp: $(grep Seccomp "$st")"
for c in CapInh CapPrm CapEff CapBnd CapAmb; do
    grep -q "^$c:[[:space:]]*0000000000000000$" "$st" || fail "$c: $(grep "^$c" "$st")"
done
grep -q "^Max core file size *0 *0 " "/proc/$pid/limits" || fail "core dumps: $(grep core "/proc/$pid/limits")"
# Every thread filtered; the vCPU, device and network threads by their role's too.
roles=0
for t in /proc/"$pid"/task/*; do
    name=$(cat "$t/comm")
    n=$(sed -n 's/^Seccomp_filters:[[:space:]]*//p' "$t/status")
    [ "$(sed -n 's/^Seccomp:[[:space:]]*//p' "$t/status")" = 2 ] || fail "thread $name: not filtered"
    case $name in
    vcpu* | devices | net)
        [ "$n" -ge 2 ] || fail "thread $name: $n filters, want its role's on top"
        roles=$((roles + 1))
        ;;
    esac
done
[ "$roles" -ge 3 ] || fail "found $roles role threads (vcpu, devices, net)"
echo "VMM $pid: NoNewPrivs, no capabilities, no core dumps, $roles threads in their roles"

# The confined VM works: the network, exec, cp, publishing, stop.
for i in $(seq 60); do page=$(curl -sf "http://127.0.0.1:$p/index.html") && break; sleep 1; done
[ "${page:-}" = confined ] || fail "curl through -p: '${page:-}'"
expect 0 "exec works" -- exec c1 sh -c 'echo exec works'
echo hello >"$WORK/f"
sm cp "$WORK/f" c1:/tmp/f
[ "$RC" = 0 ] || fail "cp in: $(cat "$ERR")"
sm cp c1:/tmp/f "$WORK/g"
[ "$RC" = 0 ] && cmp -s "$WORK/f" "$WORK/g" || fail "cp out: $(cat "$ERR")"
p2=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
sm port --publish "127.0.0.1:$p2:8080" c1
[ "$RC" = 0 ] || fail "port --publish: $(cat "$ERR")"
[ "$(curl -sf "http://127.0.0.1:$p2/index.html")" = confined ] || fail "curl the port published later"
sm stop c1
[ "$RC" = 0 ] || fail "stop: $(cat "$ERR")"
log=$SUPERMACHINE_HOME/vms/$id/vmm.log
grep "seccomp" "$log" && fail "the filter refused a call: $(grep seccomp "$log")"
sm rm c1
expect 0 "no network" -- run --rm --network none "$I" echo no network
echo ok
