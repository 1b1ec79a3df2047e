#!/usr/bin/env bash
# needs: kvm
# timeout: 600
# prepare: lib-run.sh run_fixture
# A detached VM's life, as docker's: run -d prints the id and returns while the command
# runs, held by a monitor process that holds none of the caller's descriptors; ps lists it
# Up with its memory (PSS); exec runs more commands in it (exit
# statuses, stdin, the same writable root); logs shows its output, its last lines with
# --tail, with -t the time of each line, with --since and --until the lines between two
# times, and with -f follows it until the VM ends; stop sends SIGTERM
# (exit 143) within the grace period, or stops the VM outright when the process ignores
# it (137); run --stop-signal gives the VM its own signal for stop (the process's trap
# decides its exit code, as ps, inspect and wait show), stop -s overrides it, and
# --stop-timeout its grace period; rm removes it; a VMM killed outright (as the host's OOM killer would) leaves
# a record that says Exited (137); a monitor given SIGTERM passes it to the main process
# and still removes a --rm VM's record; --read-only and --tmpfs; --pull, --cidfile; the example program
# (examples/three-commands.c) does the same through the C API.
set -eu
. "$(dirname "$0")/lib-run.sh"
run_setup --baked
I=$RUN_IMAGE

# The caller holds a descriptor of its own (as a server's listening socket would be):
# nothing the run leaves behind may keep it open.
callers=$(mktemp)
exec 7>"$callers"
sm run -d --name web "$I" sh -c 'echo started; echo state >/tmp/state; exec sleep 1000'
exec 7>&-
[ "$RC" = 0 ] || fail "run -d: exit $RC: $(cat "$ERR")"
id=$(cat "$OUT")
[ ${#id} = 64 ] || fail "run -d printed '$id', want a 64-hex id"
# A store copied from the baked one keeps its snapshots (their key names no store path).
if [ -n "${SM_TEST_GOLDEN:-}" ]; then
    grep -q '"restore"' "$SUPERMACHINE_HOME/vms/$id/vmm.json" ||
        fail "the first run in a copy of the baked store did not restore its snapshot"
fi
sm ps
grep -q "^${id:0:12} .* Up .* web$" "$OUT" || fail "ps does not list web as Up: $(cat "$OUT")"

# ps's MEMORY column (the one before NAMES): the VM's PSS in docker's units ("23.44MiB"),
# "-" when it does not run.
memory_of() { awk -v n="$1" 'NR == 1 { if ($(NF-1) != "MEMORY") print "no-MEMORY-column"; next }
                              $NF == n { print $(NF-1) }' "$OUT"; }
kib() { # 23.44MiB -> 24002; -1 when not a size
    awk -v s="$1" 'BEGIN { n = s + 0; u = s; sub(/^[0-9.]+/, "", u)
        m["B"] = 1 / 1024; m["KiB"] = 1; m["MiB"] = 1024; m["GiB"] = 1048576
        if (!(u in m) || s !~ /^[0-9]/) { print -1; exit } printf "%d\n", n * m[u] }'
}
mem=$(memory_of web)
k=$(kib "$mem")
echo "ps: web (512 MiB guest) uses $mem (PSS)"
[ "$k" -gt 1024 ] && [ "$k" -lt $(((512 + 200) * 1024)) ] ||
    fail "ps shows web's memory as '$mem': want a PSS between 1 MiB and 712 MiB: $(cat "$OUT")"

# An idle VM costs no CPU time: its VMM's main thread sleeps until there is work (with
# trimming on, it also looks for activity once a second). It woke every 20 ms before.
vmm=$(pgrep -f "supermachine-vmm .*vms/$id/vmm.json" | head -n 1)
[ -n "$vmm" ] || fail "no VMM process for web"
# Its monitor (the session's holder, docs/run.md) is its parent: supermachine-vmm in that
# role, spawned afresh rather than forked from the caller, so holding none of its
# descriptors; nor does the VMM.
mon=$(awk '{ print $4 }' "/proc/$vmm/stat")
title=$(tr '\0' ' ' <"/proc/$mon/cmdline" | sed 's/ *$//')
[ "$title" = "supermachine-vmm monitor run ${id:0:12}" ] ||
    fail "web's VMM's parent ($mon) is '$title', want its monitor"
for p in "$mon" "$vmm"; do
    if ls -l "/proc/$p/fd" | grep -qF "$callers"; then
        fail "process $p ($(tr '\0' ' ' <"/proc/$p/cmdline")) holds the caller's descriptor $callers"
    fi
done
rm -f "$callers"
echo "web's monitor ($mon, '$title') holds none of the caller's descriptors"
switches() { sed -n 's/^voluntary_ctxt_switches:[[:space:]]*//p' "/proc/$vmm/task/$vmm/status"; }
sleep 2 # the restore's hello and the command's start are done with
s0=$(switches)
sleep 4
s1=$(switches)
echo "web's VMM main thread woke $((s1 - s0)) times in 4 s (trimming: ${SUPERMACHINE_TRIM:-on})"
[ $((s1 - s0)) -le 12 ] || fail "an idle VM's VMM main thread woke $((s1 - s0)) times in 4 s"

# inspect: the record with docker's keys; a VM's name is found before an image's.
sm inspect web
[ "$RC" = 0 ] || fail "inspect web: $RC $(cat "$ERR")"
python3 - "$OUT" "$id" <<'PY' || fail "inspect web: $(cat "$OUT")"
import json, sys
d = json.load(open(sys.argv[1]))[0]
assert d["Id"] == sys.argv[2] and d["Name"] == "web", d
assert d["State"]["Running"] is True and d["State"]["Status"] == "running" and d["State"]["Pid"] > 0, d
assert d["Config"]["Hostname"] == sys.argv[2][:12] and d["HostConfig"]["MemoryMiB"] == 512, d
assert d["MemoryPssKiB"] > 1024, d
PY

for i in $(seq 1 50); do
    sm logs web
    grep -qx started "$OUT" && break
    sleep 1
done
grep -qx started "$OUT" || fail "logs web: $(cat "$OUT")"

expect 0 "state" -- exec web cat /tmp/state
sm exec web sh -c 'exit 3'
[ "$RC" = 3 ] || fail "exec exit status $RC, want 3"
got=$(echo piped | timeout -s KILL 120 "$SUPERMACHINE" exec -i web cat)
[ "$got" = piped ] || fail "exec -i: got '$got'"
expect 0 "sleep 1000" -- exec web sh -c 'cat /proc/[0-9]*/cmdline 2>/dev/null | tr "\0" " " | grep -o "sleep 1000" | head -n 1'

sm stop web
[ "$RC" = 0 ] || fail "stop web: $(cat "$ERR")"
sm ps -a
grep -q "Exited (143) .* web$" "$OUT" || fail "after stop: $(cat "$OUT")"
[ "$(memory_of web)" = - ] || fail "ps -a shows memory for the stopped web: $(cat "$OUT")"
sm inspect --type vm web
python3 -c 'import json, sys; s = json.load(open(sys.argv[1]))[0]["State"]
assert s["Status"] == "exited" and s["ExitCode"] == 143 and not s["Running"], s' "$OUT" ||
    fail "inspect after stop: $(cat "$OUT")"
sm exec web true
[ "$RC" = 125 ] && grep -q "not running" "$ERR" || fail "exec in a stopped VM: $RC $(cat "$ERR")"
sm rm web
[ "$RC" = 0 ] || fail "rm web: $(cat "$ERR")"

# logs -f: what was written, then each line as it comes, and it returns once the VM
# ends; --tail N starts with the last N lines.
printf '# labels\nowner=me\n\n  tier\n' >"$WORK/labels"
sm run -d --name ticker -l team=core --label-file "$WORK/labels" -l with=a=b "$I" \
    sh -c 'for i in 1 2 3 4 5 6; do echo tick $i; sleep 1; done'
[ "$RC" = 0 ] || fail "run -d ticker: $(cat "$ERR")"
start=$(date +%s)
timeout -s KILL 120 "$SUPERMACHINE" logs -f --tail 100 ticker >"$WORK/follow" 2>"$WORK/follow.err" ||
    fail "logs -f ticker: exit $?: $(cat "$WORK/follow.err")"
[ "$(cat "$WORK/follow")" = "$(printf 'tick %s\n' 1 2 3 4 5 6)" ] ||
    fail "logs -f ticker printed: $(cat "$WORK/follow")"
sm ps -a
grep -q "Exited (0) .* ticker$" "$OUT" || fail "logs -f returned before ticker ended: $(cat "$OUT")"
echo "logs -f followed ticker to its end in $(($(date +%s) - start)) s"
expect 0 "tick 6" -- logs --tail 2 ticker
[ "$(cat "$OUT")" = "$(printf 'tick 5\ntick 6')" ] || fail "logs --tail 2: $(cat "$OUT")"
sm logs -n 0 ticker
[ "$RC" = 0 ] && [ ! -s "$OUT" ] || fail "logs -n 0: $RC $(cat "$OUT")"
# -t: each line with the time it came (RFC 3339, UTC, nanoseconds); --since and --until
# by those times; --tail counts before them, as docker's.
sm logs -t ticker
python3 - "$OUT" <<'PY' || fail "logs -t: $(cat "$OUT")"
import datetime, re, sys, time
lines = open(sys.argv[1]).read().splitlines()
assert len(lines) == 6, lines
ts = []
for i, l in enumerate(lines):
    m = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\.(\d{9})Z tick (\d)", l)
    assert m and int(m.group(3)) == i + 1, l
    t = datetime.datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S")
    ts.append(t.replace(tzinfo=datetime.timezone.utc).timestamp() + int(m.group(2)) / 1e9)
assert all(b > a for a, b in zip(ts, ts[1:])), ts
assert 3.5 <= ts[-1] - ts[0] <= 60, ts  # a line a second, as the guest slept
assert abs(ts[-1] - time.time()) < 600, ts
PY
t2=$(sed -n 2p "$OUT" | cut -d' ' -f1)
t4=$(sed -n 4p "$OUT" | cut -d' ' -f1)
sm logs --since "$t4" ticker
[ "$RC" = 0 ] && [ "$(cat "$OUT")" = "$(printf 'tick 4\ntick 5\ntick 6')" ] || fail "logs --since $t4: $(cat "$OUT")"
sm logs --until "$t2" ticker
[ "$RC" = 0 ] && [ "$(cat "$OUT")" = "$(printf 'tick 1\ntick 2')" ] || fail "logs --until $t2: $(cat "$OUT")"
sm logs -n 3 --since "$t2" --until "$t4" ticker
[ "$RC" = 0 ] && [ "$(cat "$OUT")" = "tick 4" ] || fail "logs -n 3 --since --until: $(cat "$OUT")"
# ps's filters and --format, as docker's.
# Labels: the image's, then the run's (team=core replaces the image's team).
sm inspect ticker
python3 -c 'import json, sys; l = json.load(open(sys.argv[1]))[0]["Config"]["Labels"]
assert l == {"org.example.origin": "fixture", "team": "core", "owner": "me", "tier": "", "with": "a=b"}, l' \
    "$OUT" || fail "inspect ticker's labels: $(cat "$OUT")"
expect 0 "ticker" -- ps -a -f label=team=core -f label=tier -f label=org.example.origin --format '{{.Names}}'
for f in "label=team=image-team" "label=team=core -f label=nosuch" "label=tier=x" "label=with=a"; do
    sm ps -a -q -f $f
    [ "$RC" = 0 ] && [ ! -s "$OUT" ] || fail "ps -f $f matched: $RC $(cat "$OUT")"
done
expect 0 "ticker exited" -- ps -f exited=0 -f name=icke --format '{{.Names}} {{.State}}'
sm ps -f exited=3 -f name=ticker -q
[ "$RC" = 0 ] && [ ! -s "$OUT" ] || fail "ps -f exited=3 matched: $(cat "$OUT")"
sm ps -f name=ticker --format '{{.Names}}'
[ "$RC" = 0 ] && [ ! -s "$OUT" ] || fail "ps without -a listed the ended ticker: $(cat "$OUT")"
expect 0 "ticker" -- ps -l --format '{{.Names}}'
sm ps --format 'table {{.ID}}\t{{.Names}}' -a
# docker's table: the header, and columns padded as its tabwriter pads them.
head -n 1 "$OUT" | grep -qxE "VM ID {3,}NAMES" && sed -n 2p "$OUT" | grep -qxE "[0-9a-f]{12} {3,}ticker" ||
    fail "ps --format table: $(head -n 2 "$OUT")"
sm rm ticker

# logged VM LINE: the VM's log has LINE (its traps are set once it says so).
logged() { sm logs "$1"; grep -qx "$2" "$OUT"; }

# A process that ignores SIGTERM: stopped outright after the grace period.
sm run -d --name stubborn "$I" sh -c 'trap "" TERM; echo up; while :; do sleep 1; done'
[ "$RC" = 0 ] || fail "run -d stubborn: $(cat "$ERR")"
# Only once its trap is set does it ignore SIGTERM.
wait_for 60 logged stubborn up || fail "stubborn never said up: $(cat "$OUT")"
sm stop -t 2 stubborn
[ "$RC" = 0 ] || fail "stop stubborn: $(cat "$ERR")"
sm ps -a
grep -q "Exited (137) .* stubborn$" "$OUT" || fail "stubborn after stop: $(cat "$OUT")"
sm rm stubborn

# docker's --stop-signal: the VM's own signal for stop; the process's trap ends it with
# its own status, which ps -a, inspect and wait show. The record keeps it (inspect).
traps='trap "echo got-usr1; exit 7" USR1; trap "echo got-usr2; exit 8" USR2
    trap "echo got-term; exit 9" TERM; echo up; while :; do sleep 1; done'
sm run -d --name usr1 --stop-signal USR1 "$I" sh -c "$traps"
[ "$RC" = 0 ] || fail "run -d --stop-signal USR1: $(cat "$ERR")"
wait_for 60 logged usr1 up || fail "usr1 never said up: $(cat "$OUT")"
sm inspect usr1
python3 -c 'import json, sys; c = json.load(open(sys.argv[1]))[0]["Config"]
assert c["StopSignal"] == "USR1" and "StopTimeout" not in c, c' "$OUT" ||
    fail "inspect usr1: $(cat "$OUT")"
sm stop usr1
[ "$RC" = 0 ] || fail "stop usr1: $(cat "$ERR")"
expect 0 "7" -- wait usr1
sm ps -a
grep -q "Exited (7) .* usr1$" "$OUT" || fail "ps -a after stop of usr1: $(cat "$OUT")"
sm inspect usr1
python3 -c 'import json, sys; s = json.load(open(sys.argv[1]))[0]["State"]
assert s["ExitCode"] == 7 and not s["Running"], s' "$OUT" || fail "inspect after stop: $(cat "$OUT")"
sm logs usr1
grep -qx got-usr1 "$OUT" && ! grep -q -e got-usr2 -e got-term "$OUT" ||
    fail "stop did not send --stop-signal USR1 alone: $(cat "$OUT")"
sm rm usr1
# stop -s wins over the VM's own.
sm run -d --name usr2 --stop-signal USR1 "$I" sh -c "$traps"
[ "$RC" = 0 ] || fail "run -d usr2: $(cat "$ERR")"
wait_for 60 logged usr2 up || fail "usr2 never said up: $(cat "$OUT")"
sm stop -s sigusr2 usr2
[ "$RC" = 0 ] || fail "stop -s sigusr2 usr2: $(cat "$ERR")"
expect 0 "8" -- wait usr2
sm logs usr2
grep -qx got-usr2 "$OUT" && ! grep -q -e got-usr1 -e got-term "$OUT" ||
    fail "stop -s did not override --stop-signal: $(cat "$OUT")"
sm rm usr2
# docker's --stop-timeout: a process that ignores the signal is stopped outright after the
# VM's own grace period (1 s here), well before stop's default 10 s.
sm run -d --name quick --stop-timeout 1 "$I" sh -c 'trap "" TERM; echo up; while :; do sleep 1; done'
[ "$RC" = 0 ] || fail "run -d --stop-timeout 1: $(cat "$ERR")"
wait_for 60 logged quick up || fail "quick never said up: $(cat "$OUT")"
sm inspect quick
python3 -c 'import json, sys; c = json.load(open(sys.argv[1]))[0]["Config"]
assert c["StopTimeout"] == 1 and "StopSignal" not in c, c' "$OUT" || fail "inspect quick: $(cat "$OUT")"
t0=$(date +%s%N)
sm stop quick
ms=$(ms_since "$t0")
[ "$RC" = 0 ] || fail "stop quick: $(cat "$ERR")"
echo "stop of a VM run with --stop-timeout 1, its process ignoring SIGTERM: $ms ms"
[ "$ms" -lt 8000 ] || fail "stop took $ms ms: --stop-timeout 1 was not used"
sm ps -a
grep -q "Exited (137) .* quick$" "$OUT" || fail "quick after stop: $(cat "$OUT")"
sm rm quick

# A VMM killed outright, as the host's OOM killer kills (docs/memory.md): the VM ends and
# its record says Exited (137), with no memory.
sm run -d --name victim "$I" sleep 1000
[ "$RC" = 0 ] || fail "run -d victim: $(cat "$ERR")"
vid=$(cat "$OUT")
vmm=$(sed -n 's/.*"vmm_pid": *\([0-9]*\).*/\1/p' "$SUPERMACHINE_HOME/vms/$vid/state.json")
[ -n "$vmm" ] && [ "$vmm" -gt 1 ] || fail "no VMM pid in victim's state.json: $(cat "$SUPERMACHINE_HOME/vms/$vid/state.json")"
kill -KILL "$vmm"
ps_shows() { sm ps -a; grep -q "$1" "$OUT"; } # ps -a has a line matching $1 (in $OUT)
wait_for 20 ps_shows "Exited (137) .* victim$" || fail "victim after its VMM was killed: $(cat "$OUT")"
[ "$(memory_of victim)" = - ] || fail "ps -a shows memory for the killed victim: $(cat "$OUT")"
echo "a killed VMM: $(grep victim "$OUT")"
sm rm victim
[ "$RC" = 0 ] || fail "rm victim: $(cat "$ERR")"

# A monitor told to end (SIGTERM: a shutdown, or `stop` when the agent did not answer it
# in time) passes the signal to the main process, and still records the end and, for
# --rm, removes the record: it used to die at once and leave a --rm VM's record behind.
sm run -d --rm --name termed "$I" sh -c 'trap "echo got-term; exit 3" TERM; while :; do sleep 1; done'
[ "$RC" = 0 ] || fail "run -d --rm termed: $(cat "$ERR")"
tid=$(cat "$OUT")
tmon=$(pgrep -xf "supermachine-vmm monitor run ${tid:0:12}") || fail "no monitor for termed"
kill -TERM "$tmon"
wait_for 20 test ! -d "$SUPERMACHINE_HOME/vms/$tid" || fail "termed's record stayed after SIGTERM to its monitor: $(cat "$SUPERMACHINE_HOME/vms/$tid/state.json" "$SUPERMACHINE_HOME/vms/$tid/output.log")"
! kill -0 "$tmon" 2>/dev/null || fail "termed's monitor lives on"
pgrep -f "vms/$tid/vmm.json" && fail "termed's VMM lives on"
# The same without --rm: the trap's exit status (3) is the VM's.
sm run -d --name termed2 "$I" sh -c 'trap "exit 3" TERM; while :; do sleep 1; done'
[ "$RC" = 0 ] || fail "run -d termed2: $(cat "$ERR")"
tmon=$(pgrep -xf "supermachine-vmm monitor run $(head -c 12 "$OUT")") || fail "no monitor for termed2"
kill -TERM "$tmon"
wait_for 30 ps_shows "Exited (3) .* termed2$" || fail "termed2 after SIGTERM to its monitor: $(cat "$OUT")"
sm rm termed2
echo "a monitor given SIGTERM: the main process got it (its trap's status), the --rm VM is gone"

sm rm nosuchvm
[ "$RC" = 125 ] && grep -q "^supermachine: rm: nosuchvm: no such VM" "$ERR" || fail "rm nosuchvm: $RC $(cat "$ERR")"

# --read-only and --tmpfs, as docker's: the image's root refuses writes for the main
# process and for exec; the tmpfs mounts (docker's default options, or the given ones)
# and the guest's own /dev/shm and /run take them; inspect shows both.
sm run -d --name ro --read-only --ulimit nofile=1000:2000 --ulimit core=-1 --shm-size 3m \
    --tmpfs /tmp --tmpfs /scratch/data:exec,size=8m,mode=0750,uid=1234 \
    "$I" sh -c 'echo main >/etc/main-wrote 2>/dev/null; echo $? >/tmp/main-status; exec sleep 1000'
[ "$RC" = 0 ] || fail "run -d --read-only: $RC $(cat "$ERR")"
expect 0 "1" -- exec ro cat /tmp/main-status
# --ulimit: on the main process and on each exec's.
sm exec ro sh -c 'grep -E "^Max (open files|core file size)" /proc/1/limits /proc/self/limits; grep -E "^Max (open files|core file size)" /proc/$(pidof sleep)/limits'
[ "$RC" = 0 ] || fail "exec ro limits: $RC $(cat "$ERR")"
tail -n 2 "$OUT" >"$WORK/main-limits"
grep -qE "^Max open files +1000 +2000 +files" "$WORK/main-limits" &&
    grep -qE "^Max core file size +unlimited +unlimited" "$WORK/main-limits" ||
    fail "the main process's limits: $(cat "$OUT")"
grep -qE "^/proc/self/limits:Max open files +1000 +2000 +files" "$OUT" ||
    fail "exec's limits: $(cat "$OUT")"
grep -qE "^/proc/1/limits:Max open files +1000 +2000" "$OUT" && fail "sm-init got the limits: $(cat "$OUT")"

sm exec ro sh -c 'touch /newfile'
[ "$RC" != 0 ] && grep -q "Read-only file system" "$ERR" || fail "exec wrote to a read-only root: $RC $(cat "$ERR")"
expect 0 "shm-run-ok" -- exec ro sh -c 'echo a >/dev/shm/a && echo b >/run/b && echo shm-run-ok'
# --shm-size: /dev/shm is 3 MiB, and stays so (later hellos remount nothing).
expect 0 "3072" -- exec ro sh -c 'df -k /dev/shm | awk "NR == 2 { print \$2 }"'
# 4 MB into it: the write fails (busybox says "I/O error" for ENOSPC) and 3 MiB at most stay.
sm exec ro sh -c 'head -c 4000000 /dev/zero >/dev/shm/big; echo "$? $(wc -c </dev/shm/big)"'
read -r wrc wsize <"$OUT"
[ "$RC" = 0 ] && [ "${wrc:-0}" != 0 ] && [ "${wsize:-0}" -le $((3 << 20)) ] ||
    fail "4 MB in a 3 MiB /dev/shm: $RC $(cat "$OUT" "$ERR")"
sm exec ro sh -c 'grep -E " /(tmp|scratch/data|) " /proc/mounts'
[ "$RC" = 0 ] || fail "exec ro mounts: $RC $(cat "$ERR")"
grep -qE "^sm-tmpfs /tmp tmpfs rw,nosuid,nodev,noexec[, ]" "$OUT" || fail "/tmp's mount: $(cat "$OUT")"
grep -qE "^sm-tmpfs /scratch/data tmpfs rw,nosuid,nodev,.*size=8192k,mode=750,uid=1234" "$OUT" &&
    ! grep -qE "^sm-tmpfs /scratch/data .*noexec" "$OUT" || fail "/scratch/data's mount: $(cat "$OUT")"
grep -qE "^[^ ]+ / [^ ]+ ro," "$OUT" || fail "the root is not mounted read-only: $(cat "$OUT")"
# noexec on /tmp, exec on /scratch/data: a copy of busybox runs from one only.
# (busybox runs the applet its argv[0] names, or its argv[1] when that is "busybox")
expect 0 "ran-from-data" -- exec ro sh -c 'cp /bin/busybox /scratch/data/busybox && /scratch/data/busybox echo ran-from-data'
sm exec ro sh -c 'cp /bin/busybox /tmp/busybox && /tmp/busybox echo ran-from-tmp'
[ "$RC" = 126 ] || fail "a program on the noexec /tmp: $RC $(cat "$OUT") $(cat "$ERR")"
# A second exec's hello mounts nothing again: still one mount at each path.
expect 0 "1 1" -- exec ro sh -c 'echo $(grep -c " /tmp " /proc/mounts) $(grep -c " /scratch/data " /proc/mounts)'
sm inspect ro
python3 - "$OUT" <<'PY' || fail "inspect ro: $(cat "$OUT")"
import json, sys
h = json.load(open(sys.argv[1]))[0]["HostConfig"]
assert h["ReadonlyRootfs"] is True and h["ShmSize"] == 3 << 20, h
assert h["Tmpfs"] == {"/tmp": "", "/scratch/data": "exec,size=8m,mode=0750,uid=1234"}, h["Tmpfs"]
PY
sm rm -f ro
[ "$RC" = 0 ] || fail "rm -f ro: $(cat "$ERR")"
# A mount the guest's kernel refuses fails the run in one line.
sm run --rm --tmpfs /bad:size=1m,nr_blocks=1,nr_inodes=1k,uid=4294967295 "$I" true
[ "$RC" = 125 ] && [ "$(wc -l <"$ERR")" = 1 ] && grep -q "tmpfs /bad" "$ERR" ||
    fail "a refused mount: $RC $(cat "$ERR")"
echo "--read-only and --tmpfs: root refuses writes, tmpfs mounts with docker's options, noexec enforced"

# --pull never (the store has it), --cidfile, and --init and --platform as docker takes them.
sm run --rm --pull never --cidfile "$WORK/cid" --init --platform linux/amd64 "$I" echo pulled-never
[ "$RC" = 0 ] && [ "$(cat "$OUT")" = pulled-never ] || fail "run --pull never --cidfile: $RC $(cat "$ERR")"
grep -qxE '[0-9a-f]{64}' "$WORK/cid" || fail "--cidfile wrote '$(cat "$WORK/cid")'"
# --pull always asks a registry: a loaded image has none to come from.
sm run --rm --pull always "$I" true
[ "$RC" = 125 ] && [ "$(wc -l <"$ERR")" -le 2 ] && grep -q "^supermachine: run $I: " "$ERR" ||
    fail "run --pull always of a loaded image: $RC $(cat "$ERR")"

# examples/three-commands.c, the public API's walk-through: start, three execs, a file
# written and read back, stop, remove.
ex=$(dirname "$SUPERMACHINE")/examples/three-commands
[ -x "$ex" ] || fail "no $ex"
timeout -s KILL 300 "$ex" "$I" >"$WORK/ex.out" 2>&1 || fail "three-commands: $(cat "$WORK/ex.out")"
grep -qx "read back: written-in-the-guest" "$WORK/ex.out" && grep -qx "hello from the host" "$WORK/ex.out" &&
    grep -q -- "^-> cat exited 0 ([0-9]* ms, peak RSS [1-9][0-9]* KiB)$" "$WORK/ex.out" ||
    fail "three-commands output: $(cat "$WORK/ex.out")"
sm ps -a -q
[ ! -s "$OUT" ] || fail "VMs left behind: $(cat "$OUT")"
