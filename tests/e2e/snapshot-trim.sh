#!/usr/bin/env bash
# needs: kvm
# timeout: 1200
# prepare: lib-run.sh run_fixture
# A restored VM gives back the pages it wrote back to its snapshot's bytes (memory_trim.h,
# docs/memory.md). Two idle clones of one busybox httpd snapshot, one with
# SUPERMACHINE_TRIM=0: pages that are the VMM's own copy yet hold the file's bytes
# (tests/tools/sm-guest-pages same) must be far fewer in the trimmed one than in the
# other, which shows the measure sees them. The trimmed clone's data survives its trims
# (a file of random bytes and its sum, written before and read after), it serves through a
# published port, runs commands, gives back again after new work, and stops.
set -eu
. "$(dirname "$0")/lib-run.sh"
run_setup --baked
I=$RUN_IMAGE
PAGES=$(dirname "$SUPERMACHINE")/tests/tools/sm-guest-pages
[ -x "$PAGES" ] || fail "no $PAGES (built with the tree)"
SERVE='mkdir -p /www && echo hello-trim >/www/index.html && exec httpd -f -p 8080 -h /www'
WEB=("$I" sh -c "$SERVE")
vmm_pid() { pgrep -f "supermachine-vmm .*vms/$1/vmm.json" | head -n 1; }
# same_kib PID: KiB of the VM's own guest pages that hold the snapshot's bytes.
same_kib() {
    "$PAGES" same "$1" | sed -n 's/.*: \([0-9]*\) KiB the same as the snapshot.s.*/\1/p'
}
own_kib() { "$PAGES" same "$1" | sed -n 's/^\([0-9]*\) KiB the VM.s own.*/\1/p'; }

sm bake --snapshot-on listen:8080 "${WEB[@]}"
[ "$RC" = 0 ] || fail "bake: exit $RC: $(cat "$ERR")"

SUPERMACHINE_TRIM=0 sm run -d --snapshot-on listen:8080 "${WEB[@]}"
[ "$RC" = 0 ] || fail "run -d (untrimmed): exit $RC: $(cat "$ERR")"
plain=$(cat "$OUT")
port=$(free_port)
# Trimming on, whatever the environment says (tests/run turns it off in the emulated host).
SUPERMACHINE_TRIM=1 sm run -d -p "$port:8080" --snapshot-on listen:8080 "${WEB[@]}"
[ "$RC" = 0 ] || fail "run -d: exit $RC: $(cat "$ERR")"
trimmed=$(cat "$OUT")
# Written at once, before the first trim can have run: it must come through them all.
sm exec "$trimmed" sh -c 'head -c 2000000 /dev/urandom >/tmp/blob && sha256sum /tmp/blob'
[ "$RC" = 0 ] || fail "exec: exit $RC: $(cat "$ERR")"
sum_before=$(cut -d' ' -f1 "$OUT")

# Settled: the restores' and the exec's work done, the trims after them run.
sleep 15
p_plain=$(vmm_pid "$plain")
p_trim=$(vmm_pid "$trimmed")
[ -n "$p_plain" ] && [ -n "$p_trim" ] || fail "a VMM is gone"
s_plain=$(same_kib "$p_plain")
s_trim=$(same_kib "$p_trim")
o_plain=$(own_kib "$p_plain")
o_trim=$(own_kib "$p_trim")
echo "untrimmed clone: ${o_plain} KiB own guest pages, ${s_plain} KiB of them the snapshot's bytes"
echo "trimmed clone:   ${o_trim} KiB own guest pages (2 MB file included), ${s_trim} KiB of them the snapshot's bytes"
[ -n "$s_plain" ] && [ -n "$s_trim" ] || fail "sm-guest-pages gave no figures: $("$PAGES" same "$p_trim" 2>&1)"
[ "$s_plain" -ge 200 ] || fail "the untrimmed clone has only ${s_plain} KiB of pages holding the snapshot's bytes: the test cannot see trimming"
[ "$s_trim" -le $((s_plain / 3)) ] || fail "the trimmed clone still has ${s_trim} KiB of pages holding the snapshot's bytes (untrimmed: ${s_plain})"

# Its data, its server and its commands are as they were.
sm exec "$trimmed" sha256sum /tmp/blob
[ "$RC" = 0 ] || fail "exec sha256sum: exit $RC: $(cat "$ERR")"
[ "$(cut -d' ' -f1 "$OUT")" = "$sum_before" ] || fail "the file changed across trims: $(cat "$OUT"), was $sum_before"
page=$(curl -s --max-time 60 "http://127.0.0.1:$port/") || fail "curl: the trimmed clone does not serve"
[ "$page" = hello-trim ] || fail "the trimmed clone served '$page'"
expect 0 "17" -- exec "$trimmed" sh -c 'echo $((8 + 9))'

# New work makes new copies; once quiet, those holding the snapshot's bytes go again.
for i in 1 2 3 4 5; do expect 0 "$i" -- exec "$trimmed" echo "$i"; done
sleep 15
s_again=$(same_kib "$p_trim")
echo "after five more execs and a pause: ${s_again} KiB the snapshot's bytes"
[ "$s_again" -le $((s_plain / 3)) ] || fail "after more work the trimmed clone keeps ${s_again} KiB of pages holding the snapshot's bytes"
sm exec "$trimmed" sha256sum /tmp/blob
[ "$(cut -d' ' -f1 "$OUT")" = "$sum_before" ] || fail "the file changed across the later trims"

# A stop still stops it.
expect 0 "$trimmed" -- stop -t 0 "$trimmed"
expect 0 "$plain" -- stop -t 0 "$plain"
echo "PASS"
