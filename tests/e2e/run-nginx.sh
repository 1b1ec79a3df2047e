#!/usr/bin/env bash
# needs: kvm
# timeout: 900
# prepare: lib-run.sh run_fixture
# prepare: lib-debian.sh debian_nginx_fixture
# A real-world image (tests/e2e/lib-debian.sh: Debian bookworm with Debian's nginx,
# configured as docker's official nginx image) run detached as docker runs it: the
# layer's owners and modes (shadow, setuid, setgid) reach the guest; nginx, started by the
# image's Cmd, serves its page through -p to curl on the host, its workers as www-data;
# its access log (a symlink to /dev/stdout) and error log (to /dev/stderr) reach `logs`;
# `stop` sends the image's StopSignal (SIGQUIT), nginx quits gracefully and the VM shows
# Exited (0), as docker would; rm removes it. Then `bake` (trigger: the exposed port) and
# a run restored from that snapshot with -P (the exposed port on a free host port), nginx
# already serving.
set -eu
. "$(dirname "$0")/lib-run.sh"
. "$(dirname "$0")/lib-debian.sh"
run_setup
debian_nginx_fixture
I=$NGINX_IMAGE
sm load -i "$NGINX_IMAGE_TAR"
[ "$RC" = 0 ] && grep -qxF "Loaded image: $I" "$OUT" || fail "load $NGINX_IMAGE_TAR: $(cat "$OUT" "$ERR")"

# -p 80: a free host port chosen, as docker's -p 80 (and -p 0:80).
start=$SECONDS
sm run -d --name web -p 80 "$I"
[ "$RC" = 0 ] || fail "run -d -p 80 $I: exit $RC: $(cat "$ERR")"
id=$(cat "$OUT")
echo "run -d returned after $((SECONDS - start)) s: ${id:0:12}"
# sm-init's own measure of mounting the image's EROFS root (docs/rootfs.md quotes it).
grep -ho "root image .* mounted (erofs) in [0-9]* us" "$SUPERMACHINE_HOME/vms/$id/console.log" ||
    fail "sm-init did not log mounting the root image: $(tail -n 20 "$SUPERMACHINE_HOME/vms/$id/console.log")"
sm port web 80
port=$(sed -n 's/^0\.0\.0\.0://p' "$OUT")
[ -n "$port" ] || fail "port web 80: $(cat "$OUT" "$ERR")"

# The emulated KVM host is slow: nginx may take a while to answer.
page= end=$((SECONDS + 120))
while [ $SECONDS -lt $end ]; do
    page=$(curl -sf --max-time 10 -A sm-nginx-test/1 "http://127.0.0.1:$port/" 2>/dev/null) && break
    page=
    sleep 1
done
[ -n "$page" ] || fail "no page from nginx on host port $port within 120 s"
echo "$page" | grep -q "<h1>Welcome to nginx!</h1>" && echo "$page" | grep -qF "$NGINX_PAGE_MARKER" ||
    fail "the page on $port: $page"
echo "nginx serves its page on host port $port after $((SECONDS - start)) s"
server=$(curl -sI --max-time 10 "http://127.0.0.1:$port/" | tr -d '\r' | sed -n 's/^Server: //p')
case $server in nginx/1.*) ;; *) fail "Server header '$server'" ;; esac
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 -A sm-nginx-test/1 "http://127.0.0.1:$port/no-such-page")
[ "$code" = 404 ] || fail "GET /no-such-page: $code, want 404"
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 "http://127.0.0.1:$port/private/")
[ "$code" = 403 ] || fail "GET /private/: $code, want 403"

# The access log goes to stdout, the error log to stderr: both reach `logs`.
for i in $(seq 1 30); do
    sm logs web
    grep -q '"GET / HTTP/1.1" 200 .*"sm-nginx-test/1"' "$OUT" &&
        grep -q '"GET /no-such-page HTTP/1.1" 404 ' "$OUT" &&
        grep -qF 'directory index of "/var/www/html/private/" is forbidden' "$OUT" && break
    sleep 1
done
grep -q '"GET / HTTP/1.1" 200 .*"sm-nginx-test/1"' "$OUT" || fail "logs web lacks the access log line: $(head -c 3000 "$OUT")"
grep -q '"GET /no-such-page HTTP/1.1" 404 ' "$OUT" || fail "logs web lacks the 404's access log line: $(head -c 3000 "$OUT")"
grep -qF 'directory index of "/var/www/html/private/" is forbidden' "$OUT" ||
    fail "logs web lacks the error log line: $(head -c 3000 "$OUT")"
echo "logs web:"
sed 's/^/    /' "$OUT"

# The layer's owners and modes, as Debian installed them.
sm exec web stat -c '%n %u:%g %a' /etc/shadow /usr/bin/chage /var/local /usr/bin/passwd /var/www/html/index.html
[ "$RC" = 0 ] || fail "exec stat: $RC $(cat "$ERR")"
want='/etc/shadow 0:42 640
/usr/bin/chage 0:42 2755
/var/local 0:50 2775
/usr/bin/passwd 0:0 4755
/var/www/html/index.html 0:0 644'
[ "$(cat "$OUT")" = "$want" ] || fail "owners and modes in the guest: $(cat "$OUT"), want $want"
expect 0 "/dev/stdout /dev/stderr" -- exec web sh -c 'echo $(readlink /var/log/nginx/access.log /var/log/nginx/error.log)'
# The VM's own /etc/hostname and /etc/hosts, as docker's, though the image brought its
# own /etc/hostname (the name of the host that built it: mmdebstrap copies it); every
# process has HOSTNAME in its environment, as docker gives it.
expect 0 "${id:0:12} ${id:0:12} ${id:0:12} 1" -- exec web sh -c \
    'echo "$(hostname) $(cat /etc/hostname) $(env | sed -n "s/^HOSTNAME=//p") $(grep -c "^127.0.1.1.$(hostname)\$" /etc/hosts)"'
# nginx's master runs as root, its workers as www-data (33).
expect 0 "0 33" -- exec web sh -c 'for s in /proc/[0-9]*/status; do grep -q "^Name:.nginx" $s && grep "^Uid:" $s | cut -f2; done | sort -u | tr "\n" " " | sed "s/ $//"'

# stop: the image's StopSignal, SIGQUIT, is nginx's graceful quit: exit 0, well within the
# grace period.
start=$SECONDS
sm stop web
[ "$RC" = 0 ] || fail "stop web: $(cat "$ERR")"
echo "stop took $((SECONDS - start)) s"
sm ps -a
grep -q "Exited (0) .* web$" "$OUT" || fail "after stop (SIGQUIT): $(cat "$OUT")"
grep "web$" "$OUT"
sm rm web
[ "$RC" = 0 ] || fail "rm web: $(cat "$ERR")"
sm ps -a -q
[ ! -s "$OUT" ] || fail "VMs left behind: $(cat "$OUT")"
# Workload-ready: bake nginx once it listens on 80 (the default trigger: the image's
# ExposedPorts), then a run with the same settings is restored already serving.
sm bake "$I"
[ "$RC" = 0 ] || fail "bake $I: exit $RC: $(cat "$ERR")"
wdir=$(cat "$OUT")
[ -f "$wdir/snapshot.meta" ] || fail "bake printed '$wdir': no snapshot there"
start=$SECONDS
# -P publishes what the image exposes (80/tcp) on a free host port, as docker's.
sm run -d --name baked -P --snapshot-on listen:80 "$I"
[ "$RC" = 0 ] || fail "run -P --snapshot-on listen:80 (restore): exit $RC: $(cat "$ERR")"
restored=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1])).get("restore", ""))' \
    "$SUPERMACHINE_HOME/vms/$(cat "$OUT")/vmm.json")
[ "$restored" = "$wdir" ] || fail "the run restored '$restored', not the baked $wdir"
sm port baked 80
port=$(sed -n 's/^0\.0\.0\.0://p' "$OUT")
page=$(wait_http "http://127.0.0.1:$port/") || fail "no page from the restored nginx on $port"
echo "$page" | grep -q "<h1>Welcome to nginx!</h1>" || fail "the restored nginx served: $page"
echo "restored nginx serves on $port, $((SECONDS - start)) s after run -d"
sm rm -f baked
[ "$RC" = 0 ] || fail "rm -f baked: $(cat "$ERR")"
echo "run-nginx: ok"
