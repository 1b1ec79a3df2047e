#!/usr/bin/env bash
# needs: kvm
# timeout: 1200
# prepare: lib-run.sh run_fixture
# The guest reaching out, safe by default (docs/networking.md): its addresses, routes and
# resolver; with --allow-host-loopback a 64 MB file from an HTTP server on the host's
# loopback (sha256 checked), over IPv4 and IPv6; by default the same fetch refused at
# once (a reset, not a timeout); egress rules on top; UDP out to the host; --network none
# leaves loopback only.
set -eu
. "$(dirname "$0")/lib-run.sh"
run_setup --baked
I=$RUN_IMAGE
SIZE_MB=${SM_NET_TEST_MB:-64}

sm run --rm "$I" sh -c 'ip -o addr; ip route; ip -6 route; cat /etc/resolv.conf'
[ "$RC" = 0 ] || fail "run: $RC $(cat "$ERR")"
grep -q "eth0 *inet 10.0.2.15/24" "$OUT" || fail "no 10.0.2.15/24 on eth0: $(cat "$OUT")"
grep -q "eth0 *inet6 fd00::15/64" "$OUT" || fail "no fd00::15/64 on eth0: $(cat "$OUT")"
grep -q "^default via 10.0.2.2 dev eth0" "$OUT" || fail "no IPv4 default route: $(cat "$OUT")"
grep -q "^default via fd00::2 dev eth0" "$OUT" || fail "no IPv6 default route: $(cat "$OUT")"
grep -qx "nameserver 10.0.2.3" "$OUT" || fail "no resolver: $(cat "$OUT")"

# ---- the host's loopback: an HTTP server there ----
mkdir -p "$WORK/www"
head -c $((SIZE_MB * 1048576)) /dev/urandom >"$WORK/www/blob"
want=$(sha256sum <"$WORK/www/blob" | cut -d' ' -f1)
port=$((20000 + RANDOM % 20000))
python3 -m http.server --bind 127.0.0.1 --directory "$WORK/www" "$port" >"$WORK/http.log" 2>&1 &
srv=$!
srv6=
trap 'kill $srv $srv6 2>/dev/null; run_cleanup' EXIT
for i in $(seq 50); do curl -sf -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.2; done

t0=$(date +%s%N)
sm run --rm --allow-host-loopback "$I" sh -c "wget -q -O- http://10.0.2.2:$port/blob | sha256sum"
t1=$(date +%s%N)
[ "$RC" = 0 ] || fail "fetch with loopback allowed: $RC $(cat "$ERR")"
got=$(cut -d' ' -f1 <"$OUT")
[ "$got" = "$want" ] || fail "fetch of $SIZE_MB MB: sha256 $got, want $want"
echo "guest fetched $SIZE_MB MB from the host's loopback in $(((t1 - t0) / 1000000)) ms (run included)"

# Refused by default, and at once: the guest's SYN is answered with a reset.
t0=$(date +%s%N)
sm run --rm "$I" sh -c "wget -q -O- http://10.0.2.2:$port/blob >/dev/null && echo fetched"
t1=$(date +%s%N)
[ "$RC" != 0 ] || fail "fetched from the host's loopback without --allow-host-loopback"
grep -q "Connection refused" "$ERR" || fail "default fetch: not refused: $(cat "$ERR")"
echo "refused by default in $(((t1 - t0) / 1000000)) ms: $(tail -n 1 "$ERR")"

# Egress rules apply to the host once it is allowed.
sm run --rm --allow-host-loopback --egress-deny "10.0.2.2:$port" "$I" \
    wget -q -O /dev/null "http://10.0.2.2:$port/"
[ "$RC" != 0 ] && grep -q "Connection refused" "$ERR" || fail "--egress-deny: $RC $(cat "$ERR")"
sm run --rm --allow-host-loopback --egress-allow "10.0.2.2:1-1023" "$I" \
    wget -q -O /dev/null "http://10.0.2.2:$port/"
[ "$RC" != 0 ] && grep -q "Connection refused" "$ERR" || fail "--egress-allow elsewhere: $RC $(cat "$ERR")"
expect 0 "allowed" -- run --rm --allow-host-loopback --egress-allow "10.0.2.0/24:$port/tcp" "$I" \
    sh -c "wget -q -O /dev/null http://10.0.2.2:$port/ && echo allowed"
sm run --rm --egress-deny "not-a-rule" "$I" true
[ "$RC" = 125 ] && grep -q "^supermachine: run $I: egress rule not-a-rule: " "$ERR" ||
    fail "a bad rule: $RC $(cat "$ERR")"

# IPv6: the host at fd00::2 is its ::1 (where the host has IPv6 on its loopback).
if python3 -c 'import socket; s = socket.socket(socket.AF_INET6); s.bind(("::1", 0))' 2>/dev/null; then
    port6=$((20000 + RANDOM % 20000))
    python3 -m http.server --bind ::1 --directory "$WORK/www" "$port6" >"$WORK/http6.log" 2>&1 &
    srv6=$!
    for i in $(seq 50); do curl -sf -o /dev/null "http://[::1]:$port6/" && break; sleep 0.2; done
    head -c 1048576 /dev/urandom >"$WORK/www/small"
    want6=$(sha256sum <"$WORK/www/small" | cut -d' ' -f1)
    sm run --rm --allow-host-loopback "$I" sh -c "wget -q -O- http://[fd00::2]:$port6/small | sha256sum"
    [ "$RC" = 0 ] && [ "$(cut -d' ' -f1 <"$OUT")" = "$want6" ] || fail "IPv6 fetch: $RC $(cat "$OUT" "$ERR")"
    sm run --rm "$I" wget -q -O /dev/null "http://[fd00::2]:$port6/small"
    [ "$RC" != 0 ] || fail "IPv6: fetched from the host's loopback without --allow-host-loopback"
    echo "IPv6: fetched with loopback allowed, refused without"
else
    echo "IPv6: this host has no ::1; not tested"
fi

# ---- UDP from the guest to the host ----
uport=$((20000 + RANDOM % 20000))
python3 - "$uport" >"$WORK/udp.log" 2>&1 <<'PY' &
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", int(sys.argv[1])))
while True:
    data, peer = s.recvfrom(65536)
    s.sendto(b"host-echo:" + data, peer)
PY
usrv=$!
trap 'kill $srv $srv6 $usrv 2>/dev/null; run_cleanup' EXIT
probe=$(dirname "$SUPERMACHINE")/tests/tools/sm-netprobe
sm run -d --name udp --allow-host-loopback "$I" sleep 600
[ "$RC" = 0 ] || fail "run -d: $(cat "$ERR")"
sm cp "$probe" udp:/bin/sm-netprobe
[ "$RC" = 0 ] || fail "cp sm-netprobe: $(cat "$ERR")"
expect 0 "host-echo:from-guest" -- exec udp sm-netprobe udp-ask 10.0.2.2 "$uport" from-guest
echo "UDP guest -> host: $(cat "$OUT")"
sm rm -f udp
sm run -d --name udp2 "$I" sleep 600
sm cp "$probe" udp2:/bin/sm-netprobe
sm exec udp2 sm-netprobe udp-ask 10.0.2.2 "$uport" from-guest
[ "$RC" = 1 ] || fail "UDP to the host's loopback without --allow-host-loopback: $RC $(cat "$OUT")"
sm rm -f udp2

# ---- --network none: loopback only ----
sm run --rm --network none "$I" sh -c 'ip -o link; ip -o addr'
[ "$RC" = 0 ] || fail "--network none: $RC $(cat "$ERR")"
grep -q "lo:.*UP" "$OUT" && grep -q "inet 127.0.0.1/8" "$OUT" || fail "--network none: lo not up: $(cat "$OUT")"
grep -q eth0 "$OUT" && fail "--network none: the guest has eth0: $(cat "$OUT")"
sm run --rm --network none -p 8080:80 "$I" true
[ "$RC" = 125 ] && grep -q "^supermachine: run $I: --network none: " "$ERR" ||
    fail "--network none with -p: $RC $(cat "$ERR")"
sm run --rm --network bridge "$I" true
[ "$RC" = 125 ] || fail "--network bridge: $RC $(cat "$ERR")"
echo ok
