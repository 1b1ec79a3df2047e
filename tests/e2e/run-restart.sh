#!/usr/bin/env bash
# needs: kvm
# timeout: 900
# prepare: lib-run.sh run_fixture
# --restart, as docker's: on-failure:N starts a failing main process again N times in the
# same VM (a file it appends to keeps every run's line), then the VM ends with its status;
# on-failure leaves a success alone; always starts it again whatever its status, ps shows
# "Restarting (N) ..." between runs, inspect counts the restarts, and stop ends it for
# good; a server killed with `kill` comes back on its published port (unless-stopped);
# bad policies, --rm and attached runs are refused with one line and 125. And restart
# (docker's): a detached run's main process stopped (its signal, the grace period, then
# SIGKILL) and started again in the same VM; an attached run's VM and an ended one are
# refused.
set -eu
. "$(dirname "$0")/lib-run.sh"
run_setup --baked
I=$RUN_IMAGE

# on-failure:2: three runs in one VM, then its status.
sm run -d --name r1 --restart on-failure:2 "$I" sh -c 'echo run >>/root/runs; echo "run $(wc -l </root/runs)"; exit 3'
[ "$RC" = 0 ] || fail "run -d r1: exit $RC: $(cat "$ERR")"
expect 0 3 -- wait r1
sm logs r1
[ "$(grep -c '^run [0-9]' "$OUT")" = 3 ] && grep -qx 'run 3' "$OUT" ||
    fail "on-failure:2 ran the process other than 3 times in one VM: $(cat "$OUT" "$ERR")"
expect 0 "2 on-failure 2 exited 3" -- inspect -f \
    '{{.RestartCount}} {{.HostConfig.RestartPolicy.Name}} {{.HostConfig.RestartPolicy.MaximumRetryCount}} {{.State.Status}} {{.State.ExitCode}}' r1

# on-failure and a success: no restart.
sm run -d --name r0 --restart on-failure "$I" true
expect 0 0 -- wait r0
expect 0 "0" -- inspect -f '{{.RestartCount}}' r0

# always: runs again whatever the status; between runs, ps says so; stop ends it.
sm run -d --name crashy --restart always "$I" sh -c 'echo x >>/root/runs; exit 5'
[ "$RC" = 0 ] || fail "run -d crashy: exit $RC: $(cat "$ERR")"
seen_restarting() { "$SUPERMACHINE" ps --format '{{.Names}} {{.Status}}' | grep -q '^crashy Restarting (5) '; }
wait_for 60 seen_restarting || fail "ps never showed crashy restarting: $("$SUPERMACHINE" ps -a)"
"$SUPERMACHINE" ps --format '{{.Names}} {{.Status}}' | grep crashy
n=$("$SUPERMACHINE" inspect -f '{{.RestartCount}}' crashy)
[ "$n" -ge 3 ] || fail "crashy restarted $n times"
sm exec crashy sh -c 'wc -l </root/runs'
[ "$RC" = 0 ] && [ "$(cat "$OUT")" -ge 3 ] || fail "the VM did not keep every run's line: $(cat "$OUT" "$ERR")"
sm stop -t 5 crashy
[ "$RC" = 0 ] || fail "stop crashy: exit $RC: $(cat "$ERR")"
# Its last status, or the stop signal's if stop came while it ran (a few ms of each cycle).
sm inspect -f '{{.State.Status}} {{.State.ExitCode}}' crashy
grep -qxE 'exited (5|143)' "$OUT" || fail "crashy after stop: $(cat "$OUT" "$ERR")"
n1=$("$SUPERMACHINE" inspect -f '{{.RestartCount}}' crashy)
sleep 3
[ "$("$SUPERMACHINE" inspect -f '{{.RestartCount}}' crashy)" = "$n1" ] || fail "crashy restarted after stop"

# unless-stopped: a server killed comes back, on the same published port.
p=$(free_port)
sm run -d --name web --restart unless-stopped -p "$p:8080" "$I" sh -c \
    'mkdir -p /www && echo "served $(wc -l </root/runs 2>/dev/null || echo 0)" >/www/index.html && echo x >>/root/runs && exec httpd -f -p 8080 -h /www'
[ "$RC" = 0 ] || fail "run -d web: exit $RC: $(cat "$ERR")"
first=$(wait_http "http://127.0.0.1:$p/") || fail "web never served"
[ "$first" = "served 0" ] || fail "web's first page: $first"
expect 0 web -- kill web
second=""
for _ in $(seq 120); do
    second=$(curl -sf --max-time 5 "http://127.0.0.1:$p/" 2>/dev/null || true)
    [ "$second" = "served 1" ] && break
    sleep 0.5
done
[ "$second" = "served 1" ] || fail "web did not come back after kill: '$second'"
expect 0 "1 running" -- inspect -f '{{.RestartCount}} {{.State.Status}}' web
expect 0 web -- stop web
expect 0 exited -- inspect -f '{{.State.Status}}' web

# restart (docker's): the main process stopped and started again, the VM the same.
sm run -d --name svc "$I" sh -c 'echo start >>/root/starts; exec sleep 3000'
[ "$RC" = 0 ] || fail "run -d svc: exit $RC: $(cat "$ERR")"
svc_id=$("$SUPERMACHINE" inspect -f '{{.Id}}' svc)
wait_for 60 sh -c "'$SUPERMACHINE' exec svc cat /root/starts | grep -q start" || fail "svc never started"
t0=$(now_ms)
before=$(date +%s)
expect 0 svc -- restart -t 5 svc
echo "restart svc: $(($(now_ms) - t0)) ms"
expect 0 2 -- exec svc sh -c 'wc -l </root/starts'
expect 0 "$svc_id running 0" -- inspect -f '{{.Id}} {{.State.Status}} {{.RestartCount}}' svc
started=$(date -d "$("$SUPERMACHINE" inspect -f '{{.State.StartedAt}}' svc)" +%s)
[ "$started" -ge "$before" ] || fail "StartedAt ($started) is before the restart ($before)"
sm ps --format '{{.Names}} {{.Status}}'
grep -qE '^svc Up (Less than a second|[0-9] seconds?)$' "$OUT" || fail "ps's Up after restart: $(cat "$OUT")"
sm top svc
grep -q 'sleep 3000' "$OUT" || fail "no sleep after restart: $(cat "$OUT")"
# -s: a signal the process ignores, then SIGKILL after the grace period.
sm run -d --name stubborn "$I" sh -c 'trap "" TERM; echo up >>/root/ups; while :; do sleep 1; done'
[ "$RC" = 0 ] || fail "run -d stubborn: exit $RC: $(cat "$ERR")"
wait_for 60 sh -c "'$SUPERMACHINE' exec stubborn cat /root/ups | grep -q up" || fail "stubborn never started"
expect 0 stubborn -- restart -t 1 stubborn
expect 0 2 -- exec stubborn sh -c 'wc -l </root/ups'
# Refused: an attached run's VM (its CLI holds the process), a VM that ended.
"$SUPERMACHINE" run --name att "$I" sleep 300 >/dev/null 2>&1 &
att_pid=$!
wait_for 120 sh -c "'$SUPERMACHINE' ps --format '{{.Names}}' | grep -qx att" || fail "att never ran"
sm restart att
[ "$RC" = 125 ] && grep -q "restart att: only a detached run's main process starts again" "$ERR" ||
    fail "restart of an attached run: exit $RC: $(cat "$ERR")"
expect 0 att -- stop -t 1 att
wait "$att_pid" || true
sm restart r1
[ "$RC" = 125 ] && grep -q "restart r1: the VM is not running" "$ERR" || fail "restart of an ended VM: exit $RC: $(cat "$ERR")"
expect 0 svc -- rm -f svc
expect 0 stubborn -- rm -f stubborn

for args in "run -d --restart sometimes $I" "run -d --restart on-failure:-1 $I" \
    "run -d --rm --restart always $I" "run --restart always $I true"; do
    # shellcheck disable=SC2086 # words
    sm $args
    [ "$RC" = 125 ] && [ "$(wc -l <"$ERR")" = 1 ] && grep -q -- "--restart" "$ERR" || fail "$args: exit $RC: $(cat "$ERR")"
    echo "$args: $(cat "$ERR")"
done
echo "restart policies: on-failure:N, on-failure, always (ps Restarting, stop), unless-stopped after kill, refusals; restart"
