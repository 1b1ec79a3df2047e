#!/usr/bin/env bash
# The guest agent (sm-init --listen unix:PATH, no VM) against the library's client
# (tests/tools/sm-agent-client): exit statuses (own, 126, 127, 128+signal), stdout and
# stderr apart, 5 MB through stdin and back by sha256, a terminal with the size asked
# for, a user from /etc/passwd, a working directory created when missing, 20 sessions at
# once, a garbage frame answered with an error while other sessions go on; files written
# and read, listening ports, signals by pid, a time limit, peak RSS; a kept process that
# outlives its connection and a session attaching to it; poweroff.
set -eu
B=$(dirname "${SUPERMACHINE:-$SM_REPO/build/supermachine}")
INIT=$B/guest/sm-init C=$B/tests/tools/sm-agent-client
[ -x "$INIT" ] && [ -x "$C" ] || { echo "skip: no sm-init or sm-agent-client in $B" >&2; exit 77; }
D=$(mktemp -d)
trap 'kill $AGENT 2>/dev/null || true; rm -rf "$D"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
S=$D/a.sock
"$INIT" --listen "unix:$S" &
AGENT=$!
for i in $(seq 50); do [ -S "$S" ] && break; sleep 0.1; done

[ "$("$C" "$S" echo hi)" = hi ] || fail "echo hi"
rc=0; "$C" "$S" sh -c 'echo out; echo err >&2; exit 7' >"$D/o" 2>"$D/e" || rc=$?
[ $rc = 7 ] && [ "$(cat "$D/o")" = out ] && [ "$(cat "$D/e")" = err ] || fail "status/streams: $rc $(cat "$D/o" "$D/e")"
rc=0; "$C" "$S" no-such-command 2>"$D/e" || rc=$?
[ $rc = 127 ] && grep -q 'exec: "no-such-command": executable file not found in $PATH' "$D/e" || fail "127: $rc $(cat "$D/e")"
rc=0; "$C" "$S" /etc/hostname 2>"$D/e" || rc=$?
[ $rc = 126 ] || fail "126: $rc $(cat "$D/e")"
rc=0; "$C" "$S" sh -c 'kill -9 $$' || rc=$?
[ $rc = 137 ] || fail "killed by SIGKILL: $rc, want 137"
head -c 5000000 /dev/urandom >"$D/in"
want=$(sha256sum <"$D/in" | cut -d' ' -f1)
[ "$("$C" -i "$S" cat <"$D/in" | sha256sum | cut -d' ' -f1)" = "$want" ] || fail "5 MB through cat"
[ "$("$C" -i "$S" sha256sum <"$D/in" | cut -d' ' -f1)" = "$want" ] || fail "5 MB into sha256sum"
# Input that arrives with the exec request itself (a short pipe) is not left waiting.
[ "$(echo piped | timeout 20 "$C" -i "$S" cat)" = piped ] || fail "short piped stdin"
out=$("$C" -t "$S" sh -c 'tty; stty size' | tr -d '\r')
echo "$out" | grep -q '^/dev/pts/' && echo "$out" | grep -qx '33 101' || fail "tty: $out"
[ "$("$C" -u nobody "$S" id -u)" = 65534 ] || fail "-u nobody"
rc=0; "$C" -u no-such-user "$S" id 2>"$D/e" || rc=$?
[ $rc = 126 ] && grep -q "unable to find user no-such-user" "$D/e" || fail "unknown user: $rc $(cat "$D/e")"
[ "$("$C" -w "$D/made/here" "$S" pwd)" = "$D/made/here" ] || fail "working directory not created"
for i in $(seq 20); do ("$C" "$S" sh -c "sleep 0.3; echo c$i" >"$D/c$i") & done
wait_all() { for i in $(seq 20); do for t in $(seq 100); do [ -s "$D/c$i" ] && break; sleep 0.1; done; done; }
wait_all
for i in $(seq 20); do [ "$(cat "$D/c$i")" = "c$i" ] || fail "concurrent session $i"; done
python3 - "$S" <<'PY' || fail "garbage frame"
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
s.sendall(b"\xff\xff\xff\xff\x01")
reply = b""
while True:  # the error frame, then the agent closes the session
    chunk = s.recv(4096)
    if not chunk:
        break
    reply += chunk
assert b"frame of 4294967295 bytes" in reply, reply
PY
[ "$("$C" "$S" echo still-serving)" = still-serving ] || fail "agent stopped serving after a garbage frame"
# Files: 5 MB in and out by sha256, written whole with the mode and owner asked for; a
# missing directory, a directory to read and a relative path are errors, nothing left.
"$C" --write "$D/copied" "$S" <"$D/in" || fail "write a file"
[ "$(sha256sum <"$D/copied" | cut -d' ' -f1)" = "$want" ] || fail "the written file differs"
[ "$(stat -c %a "$D/copied")" = 640 ] || fail "written mode $(stat -c %a "$D/copied"), want 640"
[ "$("$C" --read "$D/copied" "$S" | sha256sum | cut -d' ' -f1)" = "$want" ] || fail "read the file back"
rc=0; echo x | "$C" --write "$D/no/such/dir/f" "$S" 2>"$D/e" || rc=$?
[ $rc = 125 ] && grep -q "write $D/no/such/dir/f: No such file or directory" "$D/e" || fail "write into a missing dir: $rc $(cat "$D/e")"
rc=0; "$C" --read "$D" "$S" >/dev/null 2>"$D/e" || rc=$?
[ $rc = 125 ] && grep -q "Is a directory" "$D/e" || fail "read a directory: $rc $(cat "$D/e")"
rc=0; echo x | "$C" --write relative "$S" 2>"$D/e" || rc=$?
[ $rc = 125 ] && grep -q "absolute path" "$D/e" || fail "relative path: $rc $(cat "$D/e")"
ls "$D" | grep -q sm-tmp && fail "a temporary file was left behind: $(ls "$D")"
# Listening TCP ports, read from the kernel's tables (here the host's: the agent runs here).
python3 -c 'import socket,time; s=socket.socket(); s.bind(("127.0.0.1",0)); s.listen(); print(s.getsockname()[1], flush=True); time.sleep(30)' >"$D/port" &
LISTENER=$!
for i in $(seq 50); do [ -s "$D/port" ] && break; sleep 0.1; done
"$C" --ports "$S" >"$D/ports" || fail "ports"
grep -qx "127.0.0.1 $(cat "$D/port")" "$D/ports" || fail "listener on $(cat "$D/port") not reported: $(head -c 300 "$D/ports")"
kill $LISTENER
# Processes (top and stats), read from /proc (here the host's): a process started here is
# listed with its parent and command line; the agent itself (this program) is not; the
# totals hold this host's memory.
sleep 1001 &
SLEEPER=$!
"$C" --processes "$S" >"$D/procs" || fail "processes"
grep -qx "$SLEEPER $$ $(id -un) [SR] sleep 1001" "$D/procs" || fail "sleep $SLEEPER not listed: $(head -c 2000 "$D/procs")"
grep -q "^$AGENT " "$D/procs" && fail "the agent ($AGENT) lists itself"
mem=$(awk '/^MemTotal:/ { print $2 }' /proc/meminfo)
tail -n 1 "$D/procs" | grep -q "^totals processes=$(($(wc -l <"$D/procs") - 1)) cpus=[1-9][0-9]* mem_total_kib=$mem " ||
    fail "processes' totals: $(tail -n 1 "$D/procs")"
kill $SLEEPER
# Signals by pid; a time limit (the process killed, 137); what the process cost.
sleep 100 &
SLEEPER=$!
"$C" --signal "15:$SLEEPER" "$S" || fail "signal a pid"
rc=0; wait $SLEEPER || rc=$?
[ $rc = 143 ] || fail "the signalled process ended with $rc, want 143"
rc=0; "$C" --signal "15:1" "$S" 2>"$D/e" || rc=$?
[ $rc = 125 ] || fail "pid 1 must be refused"
start=$(date +%s%N)
rc=0; "$C" --timeout 500 --stats "$S" sleep 30 2>"$D/e" || rc=$?
ms=$((($(date +%s%N) - start) / 1000000))
[ $rc = 137 ] && grep -q "timed_out=true" "$D/e" && [ $ms -lt 10000 ] || fail "timeout: $rc after $ms ms: $(cat "$D/e")"
"$C" --stats "$S" python3 -c 'b = bytearray(64 << 20); b[::4096] = b"x" * len(b[::4096])' 2>"$D/e" || fail "stats run"
rss=$(sed -n 's/^rss_kib=\([0-9]*\) .*/\1/p' "$D/e")
[ -n "$rss" ] && [ "$rss" -ge 65536 ] && grep -q "timed_out=false" "$D/e" || fail "peak RSS of a 64 MiB process: $(cat "$D/e")"
# A kept process outlives its connection; its output waits for the session that attaches,
# which gets it whole and the exit status. Without a kept process, attach is an error.
"$C" --keep "$S" sh -c 'echo one; sleep 1; echo two; sleep 1; echo three; exit 5' >"$D/k1" &
KEPT=$!
for i in $(seq 100); do grep -q one "$D/k1" && break; sleep 0.05; done
kill -9 $KEPT
wait $KEPT 2>/dev/null || true
sleep 2.5 # it goes on meanwhile: two and three are held for the next session
rc=0; "$C" --attach "$S" >"$D/k2" || rc=$?
[ $rc = 5 ] && [ "$(cat "$D/k2")" = "$(printf 'two\nthree')" ] ||
    fail "attach: status $rc, output '$(cat "$D/k2")'"
rc=0; "$C" --attach "$S" 2>"$D/e" || rc=$?
[ $rc = 125 ] && grep -q "no kept process" "$D/e" || fail "attach with none kept: $rc $(cat "$D/e")"
"$C" --keep "$S" sleep 30 >/dev/null &
KEPT=$!
sleep 0.5
rc=0; "$C" --keep "$S" true 2>"$D/e" || rc=$?
[ $rc = 125 ] && grep -q "already has one" "$D/e" || fail "a second kept process: $rc $(cat "$D/e")"
kill $KEPT; wait $KEPT 2>/dev/null || true
"$C" --poweroff "$S" || fail "poweroff"
for i in $(seq 50); do kill -0 $AGENT 2>/dev/null || break; sleep 0.1; done
kill -0 $AGENT 2>/dev/null && fail "the agent still runs after poweroff"
echo "agent on a Unix socket: statuses, streams, stdin, tty, users, 20 sessions, garbage, files, ports, processes, signals, timeout, RSS, kept process and attach, poweroff"
