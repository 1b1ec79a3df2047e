#!/usr/bin/env bash
# needs: kvm
# timeout: 900
# prepare: lib-run.sh run_fixture
# system df and system prune, as docker's: df counts images, VMs, snapshots and caches
# with what is in use; prune removes the records of ended VMs and the snapshots and
# caches no running VM uses, never what a running VM uses (it goes on working: exec),
# nor a running VM's record; -a also removes images no VM's record names; the store
# makes what was pruned again (a workload snapshot baked anew, then, with nothing
# running, the init-ready snapshot by a boot); without -f it asks first, and "n" leaves
# everything as it was.
set -eu
. "$(dirname "$0")/lib-run.sh"
run_setup --baked
I=$RUN_IMAGE

# df_field TYPE COLUMN: a figure of `system df`'s table (2 TOTAL, 3 ACTIVE).
df_field() { "$SUPERMACHINE" system df | awk -v t="$1" -v c="$2" '$1 == t { print $c }'; }

sm run -d --name keep "$I" sleep 3000
[ "$RC" = 0 ] || fail "run -d keep: exit $RC: $(cat "$ERR")"
expect 0 from-the-image -- exec keep cat /etc/motd
sm run --name done "$I" true
[ "$RC" = 0 ] || fail "run done: exit $RC: $(cat "$ERR")"
done_id=$("$SUPERMACHINE" inspect -f '{{.Id}}' done)
# A workload snapshot no VM runs from once its run ended.
sm run --rm --snapshot-on after:200 "$I" sh -c 'sleep 1; echo baked'
[ "$RC" = 0 ] && grep -qx baked "$OUT" || fail "run --snapshot-on: exit $RC: $(cat "$OUT" "$ERR")"
ls -d "$SUPERMACHINE_HOME"/snapshots/*-w >/dev/null || fail "no workload snapshot was baked"

sm system df
[ "$RC" = 0 ] || fail "system df: exit $RC: $(cat "$ERR")"
cat "$OUT"
head -n 1 "$OUT" | grep -qE '^TYPE +TOTAL +ACTIVE +SIZE +RECLAIMABLE$' || fail "df's header: $(head -n 1 "$OUT")"
awk '$1 == "VMs" && $2 == 2 && $3 == 1' "$OUT" | grep -q . || fail "df: want 2 VMs, 1 running"
awk '$1 == "Snapshots" && $2 >= 2 && $3 == 1' "$OUT" | grep -q . || fail "df: want 2 snapshots or more, 1 in use"
awk '$1 == "Images" && $2 == 2 && $3 == 1' "$OUT" | grep -q . || fail "df: want 2 images, 1 named by a record"
awk '$1 == "Caches" && $2 >= 2 && $3 >= 1' "$OUT" | grep -q . || fail "df: want the rootfs in use and the initramfs"

# Asked first: "n" removes nothing.
echo n | "$SUPERMACHINE" system prune >"$WORK/no" 2>&1 || fail "prune answered n: $(cat "$WORK/no")"
grep -q "Are you sure you want to continue" "$WORK/no" || fail "prune did not ask: $(cat "$WORK/no")"
[ "$(df_field VMs 2)" = 2 ] || fail "prune answered n removed a VM"

sm system prune -f
[ "$RC" = 0 ] || fail "system prune -f: exit $RC: $(cat "$ERR")"
cat "$OUT"
grep -qx "$done_id" "$OUT" || fail "prune did not list the ended VM $done_id"
grep -q -- '-w$' "$OUT" || fail "prune did not list the workload snapshot"
grep -q '^Total reclaimed space: [0-9.]*[kMG]B$' "$OUT" || fail "prune's total: $(tail -n 1 "$OUT")"
sm ps -a --format '{{.Names}}'
[ "$(cat "$OUT")" = keep ] || fail "after prune, ps -a lists: $(cat "$OUT")"
[ "$(df_field Snapshots 2)" = 1 ] && [ "$(df_field Snapshots 3)" = 1 ] || fail "the snapshot keep runs from: $("$SUPERMACHINE" system df)"
ls -d "$SUPERMACHINE_HOME"/snapshots/*-w 2>/dev/null && fail "the workload snapshot is still there"
expect 0 from-the-image -- exec keep cat /etc/motd
expect 0 again -- run --rm "$I" echo again # restored from keep's snapshot, kept

# -a: the image no record names goes, keep's stays.
sm system prune -a -f
[ "$RC" = 0 ] && grep -q "^untagged: localhost/runtest:stopsig$" "$OUT" || fail "prune -a: exit $RC: $(cat "$OUT" "$ERR")"
sm images --format '{{.Repository}}:{{.Tag}}'
[ "$(cat "$OUT")" = localhost/runtest:1 ] || fail "images after prune -a: $(cat "$OUT")"
expect 0 from-the-image -- exec keep cat /etc/motd

# Nothing running: everything goes; the next runs make it again.
expect 0 keep -- rm -f keep
sm system prune -f
[ "$RC" = 0 ] || fail "prune: exit $RC: $(cat "$ERR")"
[ "$(df_field Snapshots 2)" = 0 ] && [ "$(df_field Caches 2)" = 0 ] && [ "$(df_field VMs 2)" = 0 ] ||
    fail "left after prune with nothing running: $("$SUPERMACHINE" system df)"
t0=$(now_ms)
expect 0 rebuilt -- run --rm "$I" echo rebuilt
echo "the first run after the prune (rootfs, initramfs, boot, snapshot): $(($(now_ms) - t0)) ms"
[ "$(df_field Snapshots 2)" = 1 ] || fail "the init-ready snapshot was not baked again"
expect 0 restored -- run --rm "$I" echo restored

for args in "system" "system nope" "system df extra" "system prune -z"; do
    # shellcheck disable=SC2086 # words
    sm $args
    [ "$RC" = 125 ] && [ "$(wc -l <"$ERR")" = 1 ] || fail "$args: exit $RC: $(cat "$ERR")"
done
echo "system df and prune: counts, what runs kept, ended VMs and unused snapshots removed, -a, rebuilt on demand"
