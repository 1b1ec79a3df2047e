#!/usr/bin/env bash
# needs: kvm
# timeout: 900
# prepare: lib-run.sh run_fixture
# pause and unpause, as docker's: a paused VM's guest does not run (a request to its
# published port waits, unanswered, and is answered once it goes on), ps shows it
# "(Paused)" and finds it with status=paused, inspect says Paused; pausing it again,
# unpausing one that runs, exec and cp are refused with one line and 125; after a pause
# longer than the clock check's tolerance the guest's clock is the host's at once; stop
# lets a paused VM go on so that its process takes the signal (not 137 after the grace
# period); rm -f removes a paused VM; a VM booted without a snapshot pauses too. And
# rename (docker's): running, paused and stopped VMs; a taken, bad or unchanged name refused.
set -eu
. "$(dirname "$0")/lib-run.sh"
run_setup --baked
I=$RUN_IMAGE

p=$(free_port)
sm run -d --name web -p "$p:8080" "$I" sh -c \
    'mkdir -p /www && echo pause-test-page >/www/index.html && exec httpd -f -p 8080 -h /www'
[ "$RC" = 0 ] || fail "run -d web: exit $RC: $(cat "$ERR")"
page=$(wait_http "http://127.0.0.1:$p/") || fail "web never served"
[ "$page" = pause-test-page ] || fail "web served '$page'"

expect 0 web -- pause web
sm ps
grep -q "Up .* (Paused) .* web$" "$OUT" || fail "ps of a paused VM: $(cat "$OUT")"
sm ps -q --filter status=paused
[ "$(wc -l <"$OUT")" = 1 ] || fail "ps --filter status=paused: $(cat "$OUT")"
sm ps -q --filter status=running
[ ! -s "$OUT" ] || fail "ps --filter status=running lists the paused VM: $(cat "$OUT")"
expect 0 "paused true true" -- inspect -f '{{.State.Status}} {{.State.Paused}} {{.State.Running}}' web

# Refused while paused, each with one line naming the VM.
for args in "pause web" "exec web true" "cp web:/etc/hostname $WORK/h"; do
    # shellcheck disable=SC2086 # words
    sm $args
    [ "$RC" = 125 ] && [ "$(wc -l <"$ERR")" = 1 ] && grep -q "web.*paused" "$ERR" ||
        fail "$args on a paused VM: exit $RC: $(cat "$ERR")"
done
echo "refused while paused: $(cat "$ERR")"

# A request now waits: the host side accepts, the guest does not run to answer.
t0=$(date +%s)
curl -s --max-time 120 "http://127.0.0.1:$p/" >"$WORK/during" 2>&1 &
curl_pid=$!
sleep 8
kill -0 "$curl_pid" 2>/dev/null || fail "a request to the paused VM ended: $(cat "$WORK/during")"
expect 0 web -- unpause web
wait "$curl_pid" || fail "the request made while paused failed once unpaused: $(cat "$WORK/during")"
[ "$(cat "$WORK/during")" = pause-test-page ] || fail "the waiting request got '$(cat "$WORK/during")'"
echo "a request made while paused was answered after $(($(date +%s) - t0)) s"
expect 0 "running false" -- inspect -f '{{.State.Status}} {{.State.Paused}}' web
sm ps
grep -q "Up .* web$" "$OUT" && ! grep -q Paused "$OUT" || fail "ps after unpause: $(cat "$OUT")"
sm unpause web
[ "$RC" = 125 ] && grep -q "web: the VM is not paused" "$ERR" || fail "unpause of a running VM: exit $RC: $(cat "$ERR")"

# The guest's clock ran on while it was paused (8 s and more above): right at once.
sm exec web date +%s
[ "$RC" = 0 ] || fail "exec after unpause: exit $RC: $(cat "$ERR")"
skew=$(($(date +%s) - $(cat "$OUT")))
[ "${skew#-}" -le 3 ] || fail "the guest's clock is $skew s off the host's after a pause"
echo "the guest's clock after the pause: $skew s off the host's"

# rename, as docker's: a running VM answers to its new name only; its own name or a bad
# one is refused.
sm rename web web2
[ "$RC" = 0 ] && [ ! -s "$OUT" ] || fail "rename web web2: exit $RC: $(cat "$OUT" "$ERR")"
expect 0 pause-test-page -- exec web2 cat /www/index.html
sm exec web true
[ "$RC" = 125 ] && grep -q "web: no such VM" "$ERR" || fail "exec by the old name: exit $RC: $(cat "$ERR")"
sm rename web2 web2
[ "$RC" = 125 ] && grep -q "named web2 already" "$ERR" || fail "rename to its own name: exit $RC: $(cat "$ERR")"
sm rename web2 x
[ "$RC" = 125 ] && grep -q "name x: want" "$ERR" || fail "rename to a bad name: exit $RC: $(cat "$ERR")"
sm rename web2 web
[ "$RC" = 0 ] || fail "rename web2 web: exit $RC: $(cat "$ERR")"

# stop of a paused VM: it goes on and its process takes SIGTERM, well within the grace
# period (a VM left paused would sit it out and end 137).
expect 0 web -- pause web
t0=$(date +%s)
expect 0 web -- stop -t 60 web
secs=$(($(date +%s) - t0))
sm inspect -f '{{.State.ExitCode}}' web
[ "$(cat "$OUT")" != 137 ] && [ "$secs" -lt 60 ] || fail "stop of a paused VM: exit code $(cat "$OUT") after $secs s"
echo "stop of a paused VM: exit code $(cat "$OUT") after $secs s"

# rm -f of a paused VM; and a VM booted without a snapshot pauses as well (and is
# renamed while paused, though not to the name of the stopped VM, which keeps it).
sm run -d --no-snapshot --name cold "$I" sleep 1000
[ "$RC" = 0 ] || fail "run -d --no-snapshot: exit $RC: $(cat "$ERR")"
expect 0 cold -- pause cold
expect 0 paused -- inspect -f '{{.State.Status}}' cold
sm rename cold web
[ "$RC" = 125 ] && grep -q "name web: already in use" "$ERR" || fail "rename to a stopped VM's name: exit $RC: $(cat "$ERR")"
sm rm web
sm rename cold cold2
[ "$RC" = 0 ] || fail "rename of a paused VM: exit $RC: $(cat "$ERR")"
expect 0 "paused cold2" -- inspect -f '{{.State.Status}} {{.Name}}' cold2
sm rm -f cold2
[ "$RC" = 0 ] || fail "rm -f of a paused VM: exit $RC: $(cat "$ERR")"
sm ps -aq
[ ! -s "$OUT" ] || fail "rm -f left a paused VM: $(cat "$OUT")"
! pgrep -f "$SUPERMACHINE_HOME/vms/" >/dev/null || fail "rm -f of a paused VM left its VMM"
echo "pause: ok"
