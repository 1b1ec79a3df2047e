#!/usr/bin/env bash
# needs: kvm
# timeout: 1200
# prepare: lib-run.sh run_fixture
# Ports that reach in (docs/networking.md): busybox httpd in the guest published with -p
# and fetched by curl on the host; 200 connections open at once through a published port;
# UDP echo from the host through -p .../udp; two VMs restored from one snapshot, each publishing its
# own port; a host port in use is one line and 125; `port` as docker's; publishing,
# unpublishing and connecting (sm_vm_connect) while the VM runs; a hostile guest's raw
# frames leave the VMM serving.
set -eu
. "$(dirname "$0")/lib-run.sh"
run_setup --baked
I=$RUN_IMAGE
HTTPD='mkdir -p /www && echo "hello from $(hostname)" >/www/index.html && exec httpd -f -p 8080 -h /www'


# The first run boots and bakes the init-ready snapshot; every VM below is restored from it.
expect 0 "baked" -- run --rm "$I" echo baked
ls "$SUPERMACHINE_HOME"/snapshots/*/snapshot.meta >/dev/null || fail "no snapshot baked"

p1=$(free_port)
sm run -d --name web1 -p "$p1:8080" "$I" sh -c "$HTTPD"
[ "$RC" = 0 ] || fail "run -d -p: $RC $(cat "$ERR")"
id1=$(cat "$OUT")
grep -q '"restore"' "$SUPERMACHINE_HOME/vms/$id1/vmm.json" || fail "web1 was not restored from the snapshot"
page=$(wait_http "http://127.0.0.1:$p1/index.html") || fail "curl through -p $p1:8080"
[ "$page" = "hello from ${id1:0:12}" ] || fail "web1 served '$page'"
echo "web1 (restored) serves on $p1: $page"

# A second clone of the same snapshot, its own port; both serve at once.
p2=$(free_port)
sm run -d --name web2 -p "127.0.0.1:$p2:8080" -p "8080/tcp" "$I" sh -c "$HTTPD"
[ "$RC" = 0 ] || fail "run -d web2: $RC $(cat "$ERR")"
id2=$(cat "$OUT")
page=$(wait_http "http://127.0.0.1:$p2/index.html") || fail "curl web2 on $p2"
[ "$page" = "hello from ${id2:0:12}" ] || fail "web2 served '$page'"
page=$(curl -sf "http://127.0.0.1:$p1/index.html") && [ "$page" = "hello from ${id1:0:12}" ] ||
    fail "web1 after web2 started: '$page'"
echo "web2 (restored) serves on $p2 beside web1"

# docker's `port`: every mapping, one guest port's host addresses; a free host port chosen.
sm port web2
[ "$RC" = 0 ] || fail "port web2: $(cat "$ERR")"
grep -qx "8080/tcp -> 127.0.0.1:$p2" "$OUT" || fail "port web2: $(cat "$OUT")"
p3=$(grep "^8080/tcp -> 0.0.0.0:" "$OUT" | sed 's/.*://')
[ -n "$p3" ] && [ "$p3" != 0 ] || fail "port web2: no port chosen for -p 8080: $(cat "$OUT")"
page=$(curl -sf "http://127.0.0.1:$p3/index.html") || fail "curl web2 on its chosen port $p3"
sm port web2 8080
[ "$(sort "$OUT" | tr '\n' ' ')" = "$(printf '0.0.0.0:%s\n127.0.0.1:%s\n' "$p3" "$p2" | sort | tr '\n' ' ')" ] ||
    fail "port web2 8080: $(cat "$OUT")"
sm port web2 9999
[ "$RC" = 125 ] || fail "port web2 9999: $RC"

# A host port in use: one line, 125.
sm run --rm -p "$p1:8080" "$I" true
[ "$RC" = 125 ] || fail "a taken port: exit $RC, want 125"
[ "$(wc -l <"$ERR")" = 1 ] && grep -qx "supermachine: run $I: publish $p1: address already in use" "$ERR" ||
    fail "a taken port: $(cat "$ERR")"
sm run --rm -p "8080:99999" "$I" true
[ "$RC" = 125 ] && grep -q "^supermachine: run $I: publish 8080:99999: " "$ERR" || fail "bad -p: $(cat "$ERR")"

# ---- 200 connections at once through a published port; UDP echo from the host ----
# The guest's server is sm-netprobe (a poll loop with a listen backlog of 1024): busybox
# httpd listens with a backlog of 9, which would test its accept queue, not the network.
probe=$(dirname "$SUPERMACHINE")/tests/tools/sm-netprobe
pb=$(free_port)
pu=$(free_port)
sm run -d --name probe -p "$pb:9000" -p "127.0.0.1:$pu:5353/udp" "$I" sh -c \
    'while [ ! -x /bin/sm-netprobe ]; do sleep 0.1; done; sm-netprobe udp-serve 5353 & exec sm-netprobe tcp-serve 9000'
[ "$RC" = 0 ] || fail "run -d probe: $(cat "$ERR")"
idp=$(cat "$OUT")
sm cp "$probe" probe:/bin/sm-netprobe
[ "$RC" = 0 ] || fail "cp sm-netprobe: $(cat "$ERR")"
page=$(wait_http "http://127.0.0.1:$pb/") || fail "the probe's server on $pb"
python3 - "$pb" "${idp:0:12}" <<'PY' || fail "200 concurrent connections"
import socket, sys, time
port, host = int(sys.argv[1]), sys.argv[2].encode()
t0 = time.time()
conns = [socket.create_connection(("127.0.0.1", port), timeout=120) for _ in range(200)]
opened = time.time() - t0
for c in conns:
    c.sendall(b"GET / HTTP/1.0\r\n\r\n")
ok = 0
for i, c in enumerate(conns):
    data = b""
    try:
        while True:
            b = c.recv(65536)
            if not b:
                break
            data += b
    except OSError as e:
        data += str(e).encode()
    good = data.startswith(b"HTTP/1.0 200 OK") and b"hello from " + host in data
    if not good:
        print(f"connection {i} at {time.time() - t0:.1f} s: {data[:80]!r}")
    ok += good
    c.close()
print(f"200 concurrent connections: open in {opened:.1f} s, {ok} answered 200 OK in {time.time() - t0:.1f} s")
sys.exit(0 if ok == 200 else 1)
PY
python3 - "$pu" <<'PY' || fail "UDP echo through -p $pu:5353/udp"
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(1)
for i in range(60):
    s.sendto(b"from-host-%d" % i, ("127.0.0.1", int(sys.argv[1])))
    try:
        data, _ = s.recvfrom(65536)
    except socket.timeout:
        continue
    print("UDP host -> guest -> host:", data.decode())
    sys.exit(0 if data.startswith(b"from-host-") else 1)
sys.exit(1)
PY

# ---- a hostile guest: noise, malformed frames and storms of SYNs, datagrams and pings
# from a raw socket cannot crash or wedge the VMM; the VM serves on afterwards ----
sm exec probe sm-netprobe hostile eth0 15
[ "$RC" = 0 ] || fail "sm-netprobe hostile: $RC $(cat "$OUT" "$ERR")"
echo "hostile guest: $(tail -n 1 "$OUT")"
page=$(wait_http "http://127.0.0.1:$pb/") || fail "the probe's server after the hostile frames"
expect 0 "alive" -- exec probe echo alive
log=$SUPERMACHINE_HOME/vms/$idp/vmm.log
grep -q "network: dropped a frame" "$log" || fail "no malformed frame dropped: $(tail -n 5 "$log")"
grep -q "network: refused: " "$log" || fail "no flow refused: $(tail -n 5 "$log")"
grep -E "AddressSanitizer|runtime error" "$log" && fail "the VMM reported a memory error"
echo "after it: the VMM logged $(grep -c 'network: ' "$log") network lines, still serves"
sm rm -f probe

# ---- while it runs: publish, unpublish, connect through the C API ----
p4=$(free_port)
expect 0 "127.0.0.1:$p4:8080/tcp" -- port --publish "127.0.0.1:$p4:8080" web1
page=$(curl -sf "http://127.0.0.1:$p4/index.html") && [ "$page" = "hello from ${id1:0:12}" ] ||
    fail "curl after port --publish: '$page'"
sm port web1
grep -qx "8080/tcp -> 127.0.0.1:$p4" "$OUT" || fail "port web1 after --publish: $(cat "$OUT")"
sm port --publish "127.0.0.1:$p4:8080" web1
[ "$RC" = 125 ] && grep -q "address already in use" "$ERR" || fail "publishing twice: $RC $(cat "$ERR")"
sm port --unpublish "127.0.0.1:$p4:8080" web1
[ "$RC" = 0 ] || fail "port --unpublish: $(cat "$ERR")"
curl -sf --max-time 5 "http://127.0.0.1:$p4/index.html" && fail "still served after --unpublish"
sm port --unpublish "127.0.0.1:$p4:8080" web1
[ "$RC" = 125 ] && grep -q "not published" "$ERR" || fail "unpublishing twice: $RC $(cat "$ERR")"
connect=$(dirname "$SUPERMACHINE")/tests/tools/sm-vm-connect
printf 'GET /index.html HTTP/1.0\r\n\r\n' | timeout 60 "$connect" web1 8080 >"$WORK/resp" ||
    fail "sm_vm_connect: $(cat "$WORK/resp")"
grep -q "hello from ${id1:0:12}" "$WORK/resp" || fail "sm_vm_connect: $(cat "$WORK/resp")"
echo "sm_vm_connect: $(head -n 1 "$WORK/resp")"

sm rm -f web1 web2
[ "$RC" = 0 ] || fail "rm: $(cat "$ERR")"
curl -sf --max-time 5 "http://127.0.0.1:$p1/index.html" && fail "port $p1 still served after rm"
sm run -d --name nonet --network none "$I" sleep 60
"$connect" nonet 80 </dev/null 2>"$WORK/err" && fail "sm_vm_connect without a network"
grep -q "the VM has no network" "$WORK/err" || fail "sm_vm_connect without a network: $(cat "$WORK/err")"
sm rm -f nonet
echo ok
