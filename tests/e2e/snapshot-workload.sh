#!/usr/bin/env bash
# needs: kvm
# timeout: 1800
# prepare: lib-run.sh run_fixture
# Workload-ready snapshots (docs/snapshot-workload.md). `bake --snapshot-on listen:8080`
# of busybox httpd saves the VM once the server listens; `run` with the same settings
# restores it and curl gets a page at once from the process started at bake time (a file
# it wrote then is the same in every clone); 10 clones at once serve on their own ports
# with their own hostname, different /dev/urandom bytes and the host's time; a first
# `run --snapshot-on` bakes and serves on; console:TEXT, after:MS and idle bake (idle
# only after the command's busy start); a restored run's output is what came after the
# snapshot and its exit status is the command's; a 2-vCPU workload restores with both
# CPUs working; a command that ends before its trigger and bad triggers are errors (125);
# rmi removes the image's snapshots.
set -eu
. "$(dirname "$0")/lib-run.sh"
run_setup --baked
I=$RUN_IMAGE


# A CGI script that tells what the guest is at request time, and the file the server
# wrote when it started (at bake time: the same in every clone of the snapshot).
CGI='#!/bin/sh
echo "Content-Type: text/plain"
echo
echo "rand=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d " \n") time=$(date +%s) host=$(hostname) born=$(cat /www/born)"'
SERVE='mkdir -p /www/cgi-bin && head -c 8 /dev/urandom | od -An -tx1 | tr -d " \n" >/www/born &&
printf "%s\n" "$CGI" >/www/cgi-bin/info && chmod +x /www/cgi-bin/info && echo serving && exec httpd -f -p 8080 -h /www'
WEB=(-e "CGI=$CGI" "$I" sh -c "$SERVE")

# field NAME LINE: the value of NAME=... in the CGI's answer.
field() { tr ' ' '\n' <<<"$2" | sed -n "s/^$1=//p"; }

# ---- bake: from the init-ready snapshot of the baked store (a cold boot is run-basic's)
t0=$(now_ms)
sm bake --snapshot-on listen:8080 "${WEB[@]}"
[ "$RC" = 0 ] || fail "bake: exit $RC: $(cat "$ERR")"
bake_ms=$(($(now_ms) - t0))
wdir=$(cat "$OUT")
[ -f "$wdir/snapshot.meta" ] || fail "bake printed '$wdir', which holds no snapshot"
case "$wdir" in "$SUPERMACHINE_HOME"/snapshots/*-w) ;; *) fail "bake's snapshot is at '$wdir'" ;; esac
grep -q serving "$ERR" || fail "bake did not show the command's output: $(cat "$ERR")"
mem_kib=$(du -k "$wdir/memory" | cut -f1)
echo "baked in ${bake_ms} ms: $wdir, memory file ${mem_kib} KiB on disk for a 512 MiB guest"
[ "$mem_kib" -lt 200000 ] || fail "the 512 MiB guest's memory file takes ${mem_kib} KiB"
[ -z "$(ls "$SUPERMACHINE_HOME/vms")" ] || fail "bake left a VM record: $(ls "$SUPERMACHINE_HOME/vms")"

sm bake --snapshot-on listen:8080 "${WEB[@]}"
[ "$RC" = 0 ] && grep -q "already baked" "$ERR" && [ "$(cat "$OUT")" = "$wdir" ] ||
    fail "a second bake: exit $RC, stdout $(cat "$OUT"), stderr $(cat "$ERR")"

# ---- one clone: restored, serving at once
p=$(free_port)
t0=$(now_ms)
sm run -d --name one -p "$p:8080" --snapshot-on listen:8080 "${WEB[@]}"
[ "$RC" = 0 ] || fail "run -d (restore): $RC $(cat "$ERR")"
id=$(cat "$OUT")
restored=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1])).get("restore", ""))' \
    "$SUPERMACHINE_HOME/vms/$id/vmm.json")
[ "$restored" = "$wdir" ] ||
    fail "run did not restore the workload snapshot: $(cat "$SUPERMACHINE_HOME/vms/$id/vmm.json")"
page=$(wait_http "http://127.0.0.1:$p/cgi-bin/info") || fail "curl the restored server on $p"
echo "run -d to first page: $(($(now_ms) - t0)) ms (emulated host): $page"
born=$(field born "$page")
[ -n "$born" ] && [ "$(field host "$page")" = "${id:0:12}" ] || fail "clone one served '$page'"
sm logs one
grep -q serving "$OUT" && fail "the restored run's log has the bake's output: $(cat "$OUT")"
sm rm -f one; [ "$RC" = 0 ] || fail "rm -f one: $(cat "$ERR")"

# ---- 10 clones at once
N=10
ports=()
for i in $(seq $N); do ports+=("$(free_port)"); done
pids=()
for i in $(seq $N); do
    (rc=0; timeout -s KILL 600 "$SUPERMACHINE" run -d --name "c$i" -p "${ports[$((i - 1))]}:8080" \
        --snapshot-on listen:8080 "${WEB[@]}" >"$WORK/run$i" 2>&1 </dev/null || rc=$?
     echo $rc >"$WORK/rs$i") &
    pids+=($!)
done
wait "${pids[@]}" || true
rands=()
for i in $(seq $N); do
    [ "$(cat "$WORK/rs$i")" = 0 ] || fail "clone c$i: status $(cat "$WORK/rs$i"): $(cat "$WORK/run$i")"
    cid=$(tail -n1 "$WORK/run$i")
    url=http://127.0.0.1:${ports[$((i - 1))]}/cgi-bin/info
    wait_http "$url" >/dev/null || fail "curl clone c$i"
    # The guest's time when it answers lies between ours before and after asking.
    before=$(date +%s)
    page=$(curl -sf --max-time 60 "$url") || fail "curl clone c$i again"
    after=$(date +%s)
    t=$(field time "$page")
    [ "$(field born "$page")" = "$born" ] || fail "clone c$i was not restored from the bake: '$page'"
    [ "$(field host "$page")" = "${cid:0:12}" ] || fail "clone c$i has hostname $(field host "$page")"
    [ "$t" -ge $((before - 1)) ] && [ "$t" -le $((after + 1)) ] ||
        fail "clone c$i's clock says $t, the host's was $before to $after"
    rands+=("$(field rand "$page")")
done
distinct=$(printf '%s\n' "${rands[@]}" | sort -u | wc -l)
[ "$distinct" = $N ] || fail "the $N clones read $distinct different /dev/urandom values: ${rands[*]}"
echo "$N clones serve on their own ports; their /dev/urandom bytes differ; their clocks are the host's (within 1 s)"
for i in $(seq $N); do "$SUPERMACHINE" rm -f "c$i" >/dev/null; done

# ---- a first run with --snapshot-on bakes and serves on (a new key: another variable)
p=$(free_port)
sm run -d --name first -p "$p:8080" --snapshot-on listen:8080 -e V=2 "${WEB[@]}"
[ "$RC" = 0 ] || fail "run -d --snapshot-on (baking): $RC $(cat "$ERR")"
page=$(wait_http "http://127.0.0.1:$p/cgi-bin/info") || fail "curl the VM that baked"
n=$(ls -d "$SUPERMACHINE_HOME"/snapshots/*-w | wc -l)
[ "$n" = 2 ] || fail "$n workload snapshots after a baking run, want 2"
sm rm -f first; [ "$RC" = 0 ] || fail "rm -f first: $(cat "$ERR")"

# ---- console:TEXT; a restored attached run: only later output, the command's status
CMD='echo warming; echo READY-NOW; sleep 2; echo after-thaw; exit 7'
sm bake --snapshot-on console:READY-NOW "$I" sh -c "$CMD"
[ "$RC" = 0 ] || fail "bake console:READY-NOW: $RC $(cat "$ERR")"
sm run --rm --snapshot-on console:READY-NOW "$I" sh -c "$CMD"
[ "$RC" = 7 ] || fail "restored run: exit $RC, want 7; stderr $(cat "$ERR")"
[ "$(cat "$OUT")" = "after-thaw" ] || fail "restored run printed '$(cat "$OUT")', want only after-thaw"

# ---- after:MS, and idle only once the busy start is over
sm bake --snapshot-on after:300 "$I" sh -c 'echo started; exec sleep 100000'
[ "$RC" = 0 ] || fail "bake after:300: $RC $(cat "$ERR")"
BUSY='i=0; while [ $i -lt 30000 ]; do i=$((i+1)); done; echo busy-done; exec sleep 100000'
sm bake --snapshot-on idle:500 "$I" sh -c "$BUSY"
[ "$RC" = 0 ] || fail "bake idle:500: $RC $(cat "$ERR")"
grep -q busy-done "$ERR" || fail "idle fired during the busy loop: $(cat "$ERR")"

# ---- 2 vCPUs
sm bake --cpus 2 --snapshot-on listen:8080 "${WEB[@]}"
[ "$RC" = 0 ] || fail "bake --cpus 2: $RC $(cat "$ERR")"
sm run -d --name two --cpus 2 --snapshot-on listen:8080 "${WEB[@]}"
[ "$RC" = 0 ] || fail "run --cpus 2 (restore): $RC $(cat "$ERR")"
expect 0 "2" -- exec two nproc
for c in 0 1; do
    expect 0 "$c" -- exec two taskset -c "$c" sh -c 'cut -d" " -f39 /proc/self/stat'
done
sm rm -f two; [ "$RC" = 0 ] || fail "rm -f two: $(cat "$ERR")"

# ---- errors
sm bake --snapshot-on listen:8080 "$I" sh -c 'echo bye; exit 3'
[ "$RC" = 125 ] && grep -q "ended (status 3) before listen:8080" "$ERR" ||
    fail "a command that ends first: exit $RC, stderr $(cat "$ERR")"
sm run --snapshot-on listen:99999 "$I" true
[ "$RC" = 125 ] && grep -q "listen:PORT wants a TCP port" "$ERR" || fail "bad trigger: $RC $(cat "$ERR")"
sm run -t --snapshot-on listen:80 "$I" true
[ "$RC" = 125 ] && grep -q "no -t, no -i" "$ERR" || fail "-t with --snapshot-on: $RC $(cat "$ERR")"
# ---- rmi takes the image's snapshots with it
sm rmi "$I"
[ "$RC" = 0 ] || fail "rmi: $RC $(cat "$ERR")"
left=$(ls "$SUPERMACHINE_HOME/snapshots")
[ -z "$left" ] || fail "snapshots left after rmi: $left"
echo "PASS"
