#!/usr/bin/env bash
# The guest agent (sm-init --listen unix:PATH, no VM) against the library's client
# (tests/tools/sm-agent-client): exit statuses (own, 126, 127, 128+signal), stdout and
# stderr apart, 5 MB through stdin and back by sha256, a terminal with the size asked
# for, a user from /etc/passwd, a working directory created when missing, 20 sessions at
# once, a garbage frame answered with an error while other sessions go on, poweroff.
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
"$C" --poweroff "$S" || fail "poweroff"
for i in $(seq 50); do kill -0 $AGENT 2>/dev/null || break; sleep 0.1; done
kill -0 $AGENT 2>/dev/null && fail "the agent still runs after poweroff"
echo "agent on a Unix socket: statuses, streams, stdin, tty, users, 20 sessions, garbage, poweroff"
