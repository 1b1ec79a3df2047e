#!/usr/bin/env bash
# needs: kvm
# timeout: 900
# prepare: lib-run.sh run_fixture
# A running VM driven from outside, against the real guest: files copied in and out
# (3 MB by sha256; a missing file is an error that leaves nothing); whole directories
# with docker cp's rules (a round trip compared with diff -r, "DIR/.", a directory onto
# a file refused) and as tar streams read and written by GNU tar; 10 concurrent exec
# with their own outputs and statuses; 32 MB of output intact (sha256); 127 and 128+n
# from exec; exec -d returns while its process runs on (and 127 at once for a missing
# command); -t through a real pseudo-terminal (script(1)), input typed through it;
# listening TCP ports read inside the guest; kill -s; wait; stop with the image's
# StopSignal (SIGUSR1 here) and with SIGTERM when the image names none; a detached
# run's log is capped; SUPERMACHINE_TRACE writes one timeline for the CLI and its VMM.
set -eu
. "$(dirname "$0")/lib-run.sh"
run_setup --baked
I=$RUN_IMAGE

# The main process: a web server on 8080 in the background, signals noted in the log.
sm run -d --name box "$I" sh -c 'httpd -p 0.0.0.0:8080 -h /tmp
    trap "echo got-usr2" USR2; trap "echo got-term; exit 0" TERM
    echo up; while :; do sleep 1; done'
[ "$RC" = 0 ] || fail "run -d: exit $RC: $(cat "$ERR")"

# ---- files ----
head -c 3000000 /dev/urandom >"$WORK/blob"
want=$(sha256sum <"$WORK/blob" | cut -d' ' -f1)
sm cp "$WORK/blob" box:/tmp/blob
[ "$RC" = 0 ] || fail "cp in: $RC $(cat "$ERR")"
expect 0 "$want  /tmp/blob" -- exec box sha256sum /tmp/blob
sm exec box stat -c %a /tmp/blob
[ "$(cat "$OUT")" = "$(stat -c %a "$WORK/blob")" ] || fail "cp in: mode $(cat "$OUT")"
sm cp box:/tmp/blob "$WORK/back"
[ "$RC" = 0 ] && [ "$(sha256sum <"$WORK/back" | cut -d' ' -f1)" = "$want" ] || fail "cp out: $RC $(cat "$ERR")"
sm cp box:/tmp/no-such-file "$WORK/missing"
[ "$RC" = 125 ] && grep -q "No such file" "$ERR" || fail "cp of a missing file: $RC $(cat "$ERR")"
ls -a "$WORK" | grep -q -e missing -e sm-tmp -e sm-cp && fail "a failed cp left files: $(ls -a "$WORK")"
echo "cp: 3 MB in and out intact, mode kept, a missing file refused"

# ---- directories (docker cp's rules) ----
T=$WORK/tree
mkdir -p "$T/a/b/c" "$T/empty-dir"
echo hello >"$T/a/hello"
: >"$T/a/empty"
head -c 300000 /dev/urandom >"$T/a/b/random"
ln -s ../hello "$T/a/b/link"
long=$T/a/b/c/$(printf 'n%.0s' $(seq 1 120))
echo long >"$long"
chmod 0750 "$long"
sm cp "$T" box:/tmp/
[ "$RC" = 0 ] || fail "cp of a directory in: $RC $(cat "$ERR")"
expect 0 "0 0 hello" -- exec box sh -c 'echo $(stat -c "%u %g" /tmp/tree/a/hello) $(cat /tmp/tree/a/hello)'
expect 0 "../hello" -- exec box readlink /tmp/tree/a/b/link
sm cp box:/tmp/tree "$WORK/tree-back"
[ "$RC" = 0 ] || fail "cp of a directory out: $RC $(cat "$ERR")"
diff -r --no-dereference "$T" "$WORK/tree-back" || fail "the directory's round trip differs"
[ "$(stat -c %a "$WORK/tree-back/a/b/c/"n*)" = 750 ] || fail "a mode was lost on the round trip"
# Into an existing directory: under the source's name; DIR/. copies the contents.
mkdir "$WORK/into"
sm cp box:/tmp/tree "$WORK/into"
[ "$RC" = 0 ] && [ -f "$WORK/into/tree/a/hello" ] || fail "cp out into a directory: $RC $(cat "$ERR"); $(ls -R "$WORK/into")"
sm cp "$T/." box:/tmp/contents
[ "$RC" = 0 ] || fail "cp DIR/. in: $RC $(cat "$ERR")"
expect 0 "a empty-dir" -- exec box sh -c 'echo $(ls /tmp/contents)'
sm cp box:/etc/hostname "$WORK/into/"
[ "$RC" = 0 ] && [ -s "$WORK/into/hostname" ] || fail "cp of a file into a directory: $RC $(cat "$ERR")"
# A directory onto a file is refused; a missing source leaves nothing.
sm cp "$T" box:/tmp/blob
[ "$RC" = 125 ] && [ "$(wc -l <"$ERR")" = 1 ] && grep -q "cannot copy a directory onto the file /tmp/blob" "$ERR" ||
    fail "a directory onto a file: $RC $(cat "$ERR")"
sm cp box:/tmp/no-such-dir "$WORK/nothing"
[ "$RC" = 125 ] && [ ! -e "$WORK/nothing" ] || fail "cp of a missing directory: $RC $(cat "$ERR")"
ls -a "$WORK" | grep -q sm-cp && fail "a failed cp left its scratch directory: $(ls -a "$WORK")"
# Tar streams, with GNU tar on this side.
timeout -s KILL 120 "$SUPERMACHINE" cp box:/tmp/tree - | tar -tf - >"$WORK/listing" ||
    fail "cp VM:DIR - | tar -t failed"
grep -qx "tree/a/b/link" "$WORK/listing" && grep -qx "tree/a/b/random" "$WORK/listing" ||
    fail "cp VM:DIR - gave: $(head -n 20 "$WORK/listing")"
sm exec box mkdir /tmp/fromtar
tar -C "$WORK" -cf - tree | timeout -s KILL 120 "$SUPERMACHINE" cp - box:/tmp/fromtar ||
    fail "tar -c | cp - VM:DIR failed"
expect 0 "$(sha256sum <"$T/a/b/random" | cut -d' ' -f1)  /tmp/fromtar/tree/a/b/random" -- \
    exec box sha256sum /tmp/fromtar/tree/a/b/random
echo "cp: directories in and out with docker's rules, and as tar streams"

# ---- 10 concurrent exec ----
pids=()
for i in $(seq 10); do
    (rc=0; timeout -s KILL 300 "$SUPERMACHINE" exec box sh -c "sleep 1; echo exec-$i; exit $i" \
        >"$WORK/c$i" 2>&1 </dev/null || rc=$?; echo $rc >"$WORK/s$i") &
    pids+=($!)
done
wait "${pids[@]}" || true
for i in $(seq 10); do
    [ "$(cat "$WORK/c$i")" = "exec-$i" ] && [ "$(cat "$WORK/s$i")" = "$i" ] ||
        fail "concurrent exec $i: status $(cat "$WORK/s$i"), output $(head -c 300 "$WORK/c$i")"
done
echo "10 concurrent exec: each its own output and status"

# ---- 32 MB of output (more, under the emulated host, mostly adds its own failures) ----
gen='yes 0123456789abcdefghijklmnopqrstuvwxyz | head -c 32000000'
want=$(sh -c "$gen" | sha256sum | cut -d' ' -f1)
t0=$(date +%s%N)
rc=0
timeout -s KILL 600 "$SUPERMACHINE" exec box sh -c "$gen" </dev/null >"$WORK/big" 2>"$WORK/big.err" || rc=$?
t1=$(date +%s%N)
got=$(sha256sum <"$WORK/big" | cut -d' ' -f1)
if [ "$rc" != 0 ] || [ "$got" != "$want" ]; then
    fail "32 MB of output: exit $rc, $(stat -c %s "$WORK/big") bytes, sha256 $got (want 0, 32000000, $want)" \
        "$(sh -c "$gen" | cmp - "$WORK/big" 2>&1 | head -n 1); stderr: $(head -c 500 "$WORK/big.err")"
fi
rm -f "$WORK/big"
echo "32 MB of output intact in $(((t1 - t0) / 1000000)) ms"

# ---- environment: K=V, and a bare K passes this side's value (unset: left out) ----
SM_PASSED="from the host" expect 0 "from the host|1|unset" -- exec -e SM_PASSED -e x=1 -e SM_UNSET_HERE \
    box sh -c 'echo "$SM_PASSED|$x|${SM_UNSET_HERE-unset}"'
printf 'FROM_FILE=one two\n# skipped\nSM_PASSED\n' >"$WORK/exec.env"
SM_PASSED=passed expect 0 "one two|passed" -- exec --env-file "$WORK/exec.env" \
    box sh -c 'echo "$FROM_FILE|$SM_PASSED"'
echo "exec -e: K=V, and K alone passed from here; --env-file"
# As docker exec: the run's environment, user and working directory are an exec's
# defaults (the image has GREETING=hi, /tmp, root); exec's own replace them, a variable
# once (a second GREETING= after the first would be hidden from getenv).
sm run -d --name cfg -e GREETING=from-run -e ONLY_RUN=1 -u app -w /home/app "$I" sleep 100000
[ "$RC" = 0 ] || fail "run -d -e -u -w: exit $RC: $(cat "$ERR")"
expect 0 "from-run 1 1000 /home/app 1" -- exec cfg sh -c \
    'echo $GREETING $ONLY_RUN $(id -u) $(pwd) $(env | grep -c "^GREETING=")'
expect 0 "from-exec 1 0 / 1" -- exec -e GREETING=from-exec -u root -w / cfg sh -c \
    'echo $GREETING $ONLY_RUN $(id -u) $(pwd) $(env | grep -c "^GREETING=")'
sm exec -w relative cfg true
[ "$RC" = 125 ] && grep -q "relative: want an absolute path" "$ERR" || fail "exec -w relative: $RC $(cat "$ERR")"
sm inspect cfg
python3 - "$OUT" <<'PY' || fail "inspect cfg: the run's settings: $(cat "$OUT")"
import json, sys
c = json.load(open(sys.argv[1]))[0]["Config"]
assert c["User"] == "app" and c["WorkingDir"] == "/home/app", c
assert "GREETING=from-run" in c["Env"] and "GREETING=hi" not in c["Env"], c["Env"]
PY
sm rm -f cfg
echo "exec: the run's -e, -u and -w are its defaults, its own replace them"

# ---- exit statuses of exec ----
sm exec box no-such-command
[ "$RC" = 127 ] && grep -q "executable file not found" "$ERR" || fail "exec 127: $RC $(cat "$ERR")"
sm exec box sh -c 'kill -9 $$'
[ "$RC" = 137 ] || fail "exec killed by SIGKILL: $RC, want 137"

# ---- exec -d: it returns while the process waits for a file only a later exec makes ----
sm exec -d box sh -c 'echo waiting >/tmp/bg; while [ ! -e /tmp/go ]; do sleep 0.2; done; echo done >/tmp/bg'
[ "$RC" = 0 ] && [ ! -s "$OUT" ] || fail "exec -d: exit $RC, out $(cat "$OUT"), err $(cat "$ERR")"
expect 0 "waiting" -- exec box cat /tmp/bg
sm exec box touch /tmp/go
bg_done() { sm exec box cat /tmp/bg && grep -qx done "$OUT"; }
wait_for 60 bg_done || fail "exec -d's process did not go on: /tmp/bg says $(cat "$OUT")"
sm exec -d box no-such-command
[ "$RC" = 127 ] || fail "exec -d of a missing command: exit $RC, want 127: $(cat "$ERR")"
echo "exec -d: returned while its process ran on"

# ---- a real terminal ----
if command -v script >/dev/null; then
    out=$(timeout -s KILL 300 script -qec "$SUPERMACHINE exec -t box sh -c 'tty; stty size'" /dev/null </dev/null | tr -d '\r')
    echo "$out" | grep -q '^/dev/pts/' || fail "-t: no terminal: $out"
    echo "$out" | grep -qE '^[0-9]+ [0-9]+$' || fail "-t: no window size: $out"
    out=$( (sleep 3; printf 'typed-line\r'; sleep 3) | timeout -s KILL 300 \
        script -qec "$SUPERMACHINE exec -it box sh -c 'read x; echo got-\$x'" /dev/null | tr -d '\r')
    echo "$out" | grep -q '^got-typed-line$' || fail "-it: typed input did not arrive: $out"
    echo "-t: a terminal with a window size; -it: typed input reaches the process"
fi

# ---- listening ports, read inside the guest ----
ok=0
for t in $(seq 50); do
    sm port --listening box
    grep -qx "0.0.0.0:8080" "$OUT" && { ok=1; break; }
    sleep 0.2
done
[ $ok = 1 ] || fail "port: 8080 not listed: $(cat "$OUT") $(cat "$ERR")"
echo "port: $(tr '\n' ' ' <"$OUT")"

# ---- signals, stop, wait ----
sm kill -s USR2 box
[ "$RC" = 0 ] || fail "kill -s USR2: $RC $(cat "$ERR")"
for t in $(seq 50); do sm logs box; grep -q got-usr2 "$OUT" && break; sleep 0.2; done
grep -q got-usr2 "$OUT" || fail "kill -s USR2: the main process did not get it: $(cat "$OUT")"
sm kill -s NOPE box
[ "$RC" = 125 ] && grep -q "NOPE: not a signal" "$ERR" || fail "kill -s NOPE: $RC $(cat "$ERR")"
sm stop box
[ "$RC" = 0 ] || fail "stop box: $(cat "$ERR")"
expect 0 "0" -- wait box
sm logs box
grep -q got-term "$OUT" || fail "stop: no SIGTERM for an image without StopSignal: $(cat "$OUT")"

sm run -d --name sig "$RUN_IMAGE_STOPSIG" sh -c 'trap "echo got-usr1; exit 5" USR1
    trap "echo got-term; exit 6" TERM; while :; do sleep 1; done'
[ "$RC" = 0 ] || fail "run -d stopsig: $RC $(cat "$ERR")"
sm stop sig
[ "$RC" = 0 ] || fail "stop sig: $(cat "$ERR")"
expect 0 "5" -- wait sig
sm logs sig
grep -q got-usr1 "$OUT" && ! grep -q got-term "$OUT" || fail "stop: StopSignal SIGUSR1 not used: $(cat "$OUT")"
sm ps -a
grep -q "Exited (5) .* sig$" "$OUT" || fail "ps after stop: $(cat "$OUT")"
echo "kill -s USR2 reached the main process; stop used StopSignal (SIGUSR1) or SIGTERM; wait printed the codes"
sm rm box sig
[ "$RC" = 0 ] || fail "rm: $(cat "$ERR")"

# ---- a detached run's log is capped, the newest output kept ----
sm run -d --name chatty "$I" sh -c 'yes 0123456789abcdef | head -c 24000000; echo tail-marker'
[ "$RC" = 0 ] || fail "run -d chatty: $RC $(cat "$ERR")"
expect 0 "0" -- wait chatty
size=$(stat -c %s "$SUPERMACHINE_HOME"/vms/*/output.log)
[ "$size" -le $((16 << 20)) ] || fail "output.log grew to $size bytes"
sm logs chatty
grep -q "earlier output dropped" "$OUT" && tail -n 1 "$OUT" | grep -q 'tail-marker$' ||
    fail "capped log: $(head -c 200 "$OUT") ... $(tail -c 100 "$OUT")"
echo "24 MB of output: the log kept the newest $size bytes"
sm rm chatty

# ---- SUPERMACHINE_TRACE: one timeline from the CLI and its VMM (docs/run.md) ----
SUPERMACHINE_TRACE=$WORK/trace sm run --rm "$I" echo traced
[ "$RC" = 0 ] && [ "$(cat "$OUT")" = traced ] || fail "traced run: $RC $(cat "$OUT") $(cat "$ERR")"
for what in "cli: run" "run: prepared (restore)" "vmm: start" "restore: state loaded" \
    "vmm: ready" "agent: hello answered (0)" "agent: process ended (0)" "vmm: exit 0" "run: removed"; do
    grep -q " $what\$" "$WORK/trace" || fail "the trace lacks '$what': $(cat "$WORK/trace")"
done
[ "$(cut -d' ' -f2 "$WORK/trace" | sort -u | wc -l)" = 2 ] || fail "the trace is not of two processes: $(cat "$WORK/trace")"
# Each process's own lines are in order; the two processes' may cross by microseconds
# where one hands over to the other (each takes its time, then writes).
for pid in $(cut -d' ' -f2 "$WORK/trace" | sort -u); do
    awk -v p="$pid" '$2 == p { print $1 }' "$WORK/trace" | sort -c -n ||
        fail "process $pid's trace times go back: $(cat "$WORK/trace")"
done
echo "a traced run: $(wc -l <"$WORK/trace") steps, $(( ($(tail -n1 "$WORK/trace" | cut -d' ' -f1) - $(head -n1 "$WORK/trace" | cut -d' ' -f1)) / 1000 )) ms from the CLI's start to the record's removal"
