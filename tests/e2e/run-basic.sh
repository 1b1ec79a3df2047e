#!/usr/bin/env bash
# needs: kvm
# timeout: 900
# prepare: lib-run.sh run_fixture
# `supermachine run` attached, against the real guest kernel, sm-init and agent: SIGTERM
# while a first run boots and the moment a restored one has its record; the image's
# default command with its Env and WorkingDir; a command of our own; docker's exit
# statuses (the command's own, 126, 127, 125); stdout and stderr apart; -e, -w, -u; stdin
# with -i (1 MiB, checked by sha256); a writable root
# that does not outlive the run; the init-ready snapshot baked by the first run and
# restored by the next, each restore with fresh randomness and the host's time, and the
# agent the snapshot holds; --rm, and without it `logs` of an attached run; --add-host
# lines in /etc/hosts (written once, however many execs follow; also without a network);
# --no-snapshot; bad input refused with one line and status 125.
set -eu
. "$(dirname "$0")/lib-run.sh"
run_setup
I=$RUN_IMAGE

# term_run NAME WHAT READY...: starts `run --rm --name NAME` of a long sleep, waits until
# READY... succeeds, sends the CLI SIGTERM: the run ends 125 (stopped before its process
# started) or 143 (the process's own, forwarded), its record and VMM gone either way.
term_run() {
    local name=$1 what=$2 pid rc=0
    shift 2
    "$SUPERMACHINE" run --rm --name "$name" "$I" sleep 1000 >"$WORK/$name.out" 2>"$WORK/$name.err" </dev/null &
    pid=$!
    "$@" || fail "$what: $name never got there"
    kill -TERM "$pid"
    wait "$pid" || rc=$?
    { [ "$rc" = 125 ] && grep -q "stopped by SIGTERM before the process started" "$WORK/$name.err"; } ||
        [ "$rc" = 143 ] || fail "run given SIGTERM $what: exit $rc: $(cat "$WORK/$name.err")"
    [ -z "$(ls "$SUPERMACHINE_HOME/vms" | grep -v '^\.')" ] || fail "the run given SIGTERM $what left its record"
    ! pgrep -f "$SUPERMACHINE_HOME/vms/" || fail "the run given SIGTERM $what left its VMM"
    echo "SIGTERM $what: exit $rc: $(cat "$WORK/$name.err")"
}
# A signal while a first run boots, before its process started (a shell's background job
# ignores SIGINT, so SIGTERM here): the run ends at once, its VM stopped and, --rm, its
# record gone. (It used to die of the signal, leaving the record to say Exited (137).)
# Sent once the guest writes its console (the VMM is up); should the process have
# started by then (a fast host), the signal is its own (143): the record goes either way.
console_started() { [ -n "$(cat "$SUPERMACHINE_HOME"/vms/*/console.log 2>/dev/null | head -c 1)" ]; }
term_run early "while booting" wait_for 120 console_started

t0=$(date +%s%N)
expect 0 "default-cmd GREETING=hi pwd=/tmp" -- run --rm "$I"
t1=$(date +%s%N)
ls "$SUPERMACHINE_HOME"/snapshots/*/snapshot.meta >/dev/null 2>&1 ||
    fail "the first run baked no init-ready snapshot"
echo "first run (boot + bake): $(((t1 - t0) / 1000000)) ms"

t0=$(date +%s%N)
expect 0 "second" -- run --rm "$I" echo second
t1=$(date +%s%N)
echo "second run (restore): $(((t1 - t0) / 1000000)) ms"

# A signal the moment a restored run's record exists, while its VMM starts: held until the
# session forwards it, so the run ends as above (125, or 143 if the process had started
# by then) with its record gone. It used to kill the CLI, leaving the record behind.
# Builtins only: the window is a fraction of a second.
record_made() {
    local deadline=$((SECONDS + 60))
    until compgen -G "$SUPERMACHINE_HOME/vms/[0-9a-f]*" >/dev/null; do [ $SECONDS -lt $deadline ] || return 1; done
}
term_run early2 "as a restored run starts" record_made

# Two runs restored from one snapshot: different random bytes, and the host's time. And
# the same agent: the command's parent is its session, whose parent is the agent; its pid
# and start time (field 22 of its stat, in ticks since boot) are the snapshot's when it
# was in it, asleep in accept, and a restore's own if each restore forked it afresh.
restored='od -An -tx1 -N16 /dev/urandom; agent=$(cut -d" " -f4 /proc/$PPID/stat); echo "agent $(cut -d" " -f1,22 /proc/$agent/stat)"; date +%s'
r1=$(timeout -s KILL 300 "$SUPERMACHINE" run --rm "$I" sh -c "$restored")
r2=$(timeout -s KILL 300 "$SUPERMACHINE" run --rm "$I" sh -c "$restored")
[ "$(echo "$r1" | head -n 1)" != "$(echo "$r2" | head -n 1)" ] || fail "two restores read the same /dev/urandom bytes"
a1=$(echo "$r1" | grep '^agent ') a2=$(echo "$r2" | grep '^agent ')
echo "$a1" | grep -Eq '^agent [0-9]+ [0-9]+$' || fail "a restored run's agent: '$a1'"
[ "$a1" = "$a2" ] || fail "two restores have different agents ($a1; $a2): each started its own after its restore"
now=$(date +%s)
for t in "$(echo "$r1" | tail -n 1)" "$(echo "$r2" | tail -n 1)"; do
    [ $((now - t)) -le 60 ] && [ $((t - now)) -le 2 ] || fail "a restored guest's clock says $t, the host's $now"
done

expect 7 "before-exit" -- run --rm "$I" sh -c 'echo before-exit; exit 7'
sm run --rm "$I" sh -c 'echo to-out; echo to-err >&2'
[ "$RC" = 0 ] && grep -qx to-out "$OUT" && ! grep -q to-err "$OUT" && grep -qx to-err "$ERR" ||
    fail "stdout/stderr not kept apart: rc=$RC out=$(cat "$OUT") err=$(cat "$ERR")"
# Without --rm the record stays, and `logs` has what the attached run printed, as docker.
sm run --name attached "$I" sh -c 'echo to-out; echo to-err >&2; exit 4'
[ "$RC" = 4 ] && grep -qx to-out "$OUT" && grep -qx to-err "$ERR" || fail "run --name attached: $RC $(cat "$OUT" "$ERR")"
sm logs attached
[ "$RC" = 0 ] && [ "$(sort "$OUT" | tr '\n' ' ')" = "to-err to-out " ] || fail "logs attached: $RC $(cat "$OUT" "$ERR")"
sm logs -t attached
grep -qE "^20[0-9-]{8}T[0-9:.]+Z to-out$" "$OUT" || fail "logs -t attached: $(cat "$OUT")"
sm rm attached

# A bare -e NAME passes this side's value (unset here: left out), as docker.
SM_PASSED=host expect 0 "FOO=bar GREETING=override P=host U=unset" -- run --rm -e FOO=bar \
    -e GREETING=override -e SM_PASSED -e SM_UNSET_HERE "$I" \
    sh -c 'echo FOO=$FOO GREETING=$GREETING P=$SM_PASSED U=${SM_UNSET_HERE-unset}'
# --env-file as docker reads it: comments and blank lines skipped, leading blanks
# dropped, the value the rest of the line as it is (quotes and trailing blanks kept), a
# bare name passed from here; -e after it wins.
printf '# a comment\n\n   FROM_FILE=one\nSPACED= two words  \nQUOTED="q"\nSM_PASSED\nSM_UNSET_HERE\nLATER=file\n' >"$WORK/env"
SM_PASSED=host expect 0 "one| two words  |\"q\"|host|unset|cli" -- run --rm --env-file "$WORK/env" \
    -e LATER=cli "$I" sh -c 'echo "$FROM_FILE|$SPACED|$QUOTED|$SM_PASSED|${SM_UNSET_HERE-unset}|$LATER"'
printf 'OK=1\n=nameless\n' >"$WORK/bad.env"
sm run --rm --env-file "$WORK/bad.env" "$I" true
[ "$RC" = 125 ] && [ "$(wc -l <"$ERR")" = 1 ] &&
    grep -qF "supermachine: run: --env-file $WORK/bad.env: line 2: no variable name" "$ERR" ||
    fail "a bad env file: exit $RC, $(cat "$ERR")"
# -h: the guest's hostname, /etc/hostname (one line, as docker's) and /etc/hosts; the
# default is the id's first 12.
expect 0 "web-1.example|web-1.example|1|web-1.example" -- run --rm -h web-1.example "$I" \
    sh -c 'echo "$(hostname)|$(cat /etc/hostname)|$(wc -l </etc/hostname)|$(grep -o "web-1.example" /etc/hosts | head -n 1)"'
sm run -d --name hostdefault "$I" sleep 600
[ "$RC" = 0 ] || fail "run -d: exit $RC: $(cat "$ERR")"
id=$(cat "$OUT")
expect 0 "${id:0:12}" -- exec hostdefault hostname
sm rm -f hostdefault
sm run --rm --hostname -bad "$I" true
[ "$RC" = 125 ] && grep -q "^supermachine: run $I: --hostname -bad: want" "$ERR" ||
    fail "a bad hostname: exit $RC, $(cat "$ERR")"

# --add-host: docker's HOST:IP and HOST=IP (IPv6 also in brackets, host-gateway: the host
# as the guest reaches it), lines of /etc/hosts beside the init's and -h's.
T=$'\t'
hosts_block() { # the lines of /etc/hosts that --add-host gave, with their markers
    sed -n '/^# supermachine: --add-host$/,/^# supermachine: end of --add-host$/p' "$1"
}
want_block=$(printf '%s\n' "# supermachine: --add-host" "10.0.0.5${T}db" "2001:db8::1${T}v6.example" \
    "10.0.2.2${T}gw" "# supermachine: end of --add-host")
sm run --rm -h box1 --add-host db:10.0.0.5 --add-host 'v6.example=[2001:db8::1]' \
    --add-host gw:host-gateway "$I" cat /etc/hosts
[ "$RC" = 0 ] || fail "run --add-host: exit $RC: $(cat "$ERR")"
[ "$(hosts_block "$OUT")" = "$want_block" ] && grep -qxF "127.0.1.1${T}box1" "$OUT" &&
    grep -qxF "127.0.0.1${T}localhost" "$OUT" || fail "/etc/hosts with --add-host: $(cat "$OUT")"
# A detached VM: the main process's hello wrote them; each exec's hello finds them there
# and writes nothing (the file is the same one: same inode, same lines, none twice).
sm run -d --name hosted --add-host db:10.0.0.5 "$I" sleep 600
[ "$RC" = 0 ] || fail "run -d --add-host: exit $RC: $(cat "$ERR")"
sm exec hosted sh -c 'stat -c %i /etc/hosts; cat /etc/hosts'
[ "$RC" = 0 ] || fail "exec hosted: $RC $(cat "$ERR")"
cp "$OUT" "$WORK/hosts1"
sm exec hosted sh -c 'stat -c %i /etc/hosts; cat /etc/hosts'
[ "$RC" = 0 ] || fail "exec hosted again: $RC $(cat "$ERR")"
cmp -s "$OUT" "$WORK/hosts1" ||
    fail "a second exec changed /etc/hosts: $(cat "$WORK/hosts1") then $(cat "$OUT")"
[ "$(grep -c "${T}db$" "$OUT")" = 1 ] && [ "$(grep -c "^# supermachine: --add-host$" "$OUT")" = 1 ] ||
    fail "/etc/hosts after two execs: $(cat "$OUT")"
sm inspect hosted
python3 -c 'import json, sys; h = json.load(open(sys.argv[1]))[0]["HostConfig"]
assert h["ExtraHosts"] == ["db:10.0.0.5"], h' "$OUT" || fail "inspect hosted: $(cat "$OUT")"
sm rm -f hosted
# Without a network too (host-gateway is refused there: nothing is behind it).
sm run --rm --network none --add-host db=10.0.0.5 "$I" cat /etc/hosts
[ "$RC" = 0 ] && grep -qxF "10.0.0.5${T}db" "$OUT" ||
    fail "--network none --add-host: $RC $(cat "$OUT") $(cat "$ERR")"
sm run --rm --add-host 'db:10.0.0.5 x' "$I" true
[ "$RC" = 125 ] && [ "$(wc -l <"$ERR")" = 1 ] &&
    grep -qxF "supermachine: run $I: --add-host db:10.0.0.5 x: 10.0.0.5 x: not an IPv4 or IPv6 address" "$ERR" ||
    fail "a bad --add-host: exit $RC, $(cat "$ERR")"
# --dns, --dns-search, --dns-option: the guest's /etc/resolv.conf as docker writes it
# (its servers in place of the VM's own resolver, 10.0.2.3, which stays when only search
# domains or options are given, and which --network none has not).
sm run --rm --dns 192.0.2.53 --dns 2001:db8::53 --dns-search example.org --dns-search corp.example \
    --dns-option ndots:2 --dns-opt rotate "$I" cat /etc/resolv.conf
[ "$RC" = 0 ] && [ "$(cat "$OUT")" = "$(printf '%s\n' "nameserver 192.0.2.53" "nameserver 2001:db8::53" \
    "search example.org corp.example" "options ndots:2 rotate")" ] ||
    fail "run --dns*: exit $RC, resolv.conf: $(cat "$OUT") $(cat "$ERR")"
expect 0 "nameserver 10.0.2.3|search example.org|" -- run --rm --dns-search example.org "$I" \
    sh -c 'tr "\n" "|" </etc/resolv.conf'
expect 0 "options edns0" -- run --rm --network none --dns-option edns0 "$I" cat /etc/resolv.conf
expect 0 "nameserver 10.0.2.3" -- run --rm "$I" cat /etc/resolv.conf
# A detached VM: the main process's hello wrote the file; an exec's hello leaves a change
# the workload made to it alone; inspect shows what was given.
sm run -d --name dnsed --dns 192.0.2.53 --dns-search example.org "$I" sleep 600
[ "$RC" = 0 ] || fail "run -d --dns: exit $RC: $(cat "$ERR")"
sm exec dnsed sh -c 'echo "options timeout:1" >>/etc/resolv.conf'
[ "$RC" = 0 ] || fail "exec dnsed: exit $RC: $(cat "$ERR")"
expect 0 "nameserver 192.0.2.53|search example.org|options timeout:1|" -- exec dnsed \
    sh -c 'tr "\n" "|" </etc/resolv.conf'
sm inspect dnsed
python3 -c 'import json, sys; h = json.load(open(sys.argv[1]))[0]["HostConfig"]
assert (h["Dns"], h["DnsSearch"], h["DnsOptions"]) == (["192.0.2.53"], ["example.org"], []), h' \
    "$OUT" || fail "inspect dnsed: $(cat "$OUT")"
sm rm -f dnsed
expect 0 "/etc" -- run --rm -w /etc "$I" pwd
expect 0 "1000 1000" -- run --rm -u app "$I" sh -c 'echo $(id -u) $(id -g)'
expect 0 "65534" -- run --rm -u 65534 "$I" id -u
expect 0 "0" -- run --rm "$I" id -u

sm run --rm "$I" /no/such/command
[ "$RC" = 127 ] || fail "a missing command: exit $RC, want 127"
sm run --rm "$I" /etc/motd
[ "$RC" = 126 ] || fail "a command that is not executable: exit $RC, want 126"

head -c 1048576 /dev/urandom >"$WORK/in"
want=$(sha256sum <"$WORK/in" | cut -d' ' -f1)
got=$(timeout -s KILL 300 "$SUPERMACHINE" run --rm -i "$I" sha256sum <"$WORK/in" | cut -d' ' -f1)
[ "$got" = "$want" ] || fail "stdin through -i: sha256 $got, want $want"

expect 0 "written" -- run --rm "$I" sh -c 'echo written >/etc/motd && cat /etc/motd'
expect 0 "from-the-image" -- run --rm "$I" cat /etc/motd

sm run --name keepme "$I" true
[ "$RC" = 0 ] || fail "run --name: exit $RC: $(cat "$ERR")"
sm ps -a
grep -q "keepme" "$OUT" && grep -q "Exited (0)" "$OUT" || fail "ps -a does not show the ended VM: $(cat "$OUT")"
sm run --name keepme "$I" true
[ "$RC" = 125 ] && grep -q "^supermachine: run $I: name keepme: already in use" "$ERR" ||
    fail "a name in use: exit $RC, $(cat "$ERR")"
sm rm keepme
[ "$RC" = 0 ] || fail "rm keepme: $(cat "$ERR")"
sm ps -a
grep -q keepme "$OUT" && fail "rm left the VM listed"

expect 0 "no-snapshot" -- run --rm --no-snapshot "$I" echo no-snapshot

sm run --rm localhost/absent:1 true
[ "$RC" = 125 ] && [ "$(wc -l <"$ERR")" -le 2 ] && grep -q "^supermachine: run localhost/absent:1: " "$ERR" ||
    fail "absent image: exit $RC: $(cat "$ERR")"
sm run --rm --memory 12x "$I" true
[ "$RC" = 125 ] && grep -q "^supermachine: run: --memory 12x" "$ERR" || fail "bad --memory: $RC $(cat "$ERR")"
sm ps -a -q
[ ! -s "$OUT" ] || fail "--rm runs left VMs behind: $(cat "$OUT")"
