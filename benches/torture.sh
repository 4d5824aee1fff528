#!/usr/bin/env bash
# Crash torture: kills `backup`, `forget`, `copy` and `prune` with SIGKILL at random
# moments, TORTURE_POINTS times (default 500; e.g. 20 for a short run). After
# each kill: `check` passes on the repository (and on the copy's), every
# snapshot that existed before the kill is still listed (unless the killed
# `forget` was told to remove it) and restores byte for byte, and the same
# operation run again completes.
#
#   cargo build --release && TORTURE_POINTS=20 bash benches/torture.sh
#
# TORTURE_SEED makes a run repeatable (the kill delays come from it).
# Prune runs with `--grace 0` so that a short run reaches its delete and
# repack steps (nothing else runs beside it here; the grace period protects
# concurrent backups, tested in store/tests/store/prune.rs). It removes no
# snapshot, so `may_vanish` has no rule for it.
set -euo pipefail
cd "$(dirname "$0")/.."

points=${TORTURE_POINTS:-500}
RANDOM=${TORTURE_SEED:-$$}
coffer=${COFFER:-target/release/coffer}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export COFFER_PASSWORD=torture COFFER_TO_PASSWORD=torture COFFER_FROM_PASSWORD=torture
repo=$work/repo copy=$work/copy src=$work/src expect=$work/expect
mkdir -p "$src" "$expect"

c() { "$coffer" --repo "$repo" --cache-dir "$work/cache" "$@"; }
cc() { "$coffer" --repo "$copy" --cache-dir "$work/cache-copy" "$@"; }
fail() { echo "torture: FAILED at kill point $point ($op): $*" >&2; exit 1; }
snapshot_ids() { c --json snapshots | python3 -c 'import json,sys; print("\n".join(s["id"] for s in json.load(sys.stdin)))'; }

# Some change to the source each round: a new file of random size (up to 3 MiB
# of random bytes, so backups upload several 1 MiB packs), one file rewritten.
mutate() {
    head -c $(( (RANDOM * 97) % (3 << 20) + 1 )) /dev/urandom >"$src/f$RANDOM.bin"
    local some
    some=$(ls "$src" | head -n 1)
    head -c 4096 /dev/urandom >>"$src/$some"
}

backup_complete() {
    local id
    id=$(c --json backup "$src" | python3 -c 'import json,sys; print(json.load(sys.stdin)["snapshot_id"])') ||
        fail "a backup after the kill did not complete"
    rm -rf "${expect:?}/$id"
    cp -a "$src" "$expect/$id"
}

operation() {
    case "$1" in
        backup) c backup "$src" ;;
        forget) c forget --keep-last 3 ;;
        copy) c copy --to-repo "$copy" ;;
        prune) c prune --grace 0 ;;
    esac
}

# Which snapshots the operation may remove: forget keeps the newest three.
may_vanish() {
    [ "$1" = forget ] || return 0
    head -n -3 <<<"$2"
}

c init --pack-size 1 >/dev/null
cc init --from-repo "$repo" --copy-chunker-params >/dev/null
mutate
backup_complete
kills=0
for point in $(seq 1 "$points"); do
    ops=(backup forget copy prune)
    op=${ops[$((point % 4))]}
    mutate
    before=$(snapshot_ids)
    operation "$op" >/dev/null 2>&1 &
    pid=$!
    # 0 to 1.5 s: early (nothing written), midway (packs without index), late.
    sleep "$(printf '0.%03d' $((RANDOM % 1000)))"
    [ $((RANDOM % 2)) -eq 0 ] && sleep 0.5
    if kill -KILL "$pid" 2>/dev/null; then kills=$((kills + 1)); fi
    wait "$pid" 2>/dev/null || true

    c check >/dev/null 2>&1 || fail "check fails: $(c check 2>&1 | tail -n 5)"
    after=$(snapshot_ids)
    # A backup that finished before the kill landed: its snapshot holds the source as it is.
    for id in $after; do
        [ -e "$expect/$id" ] || cp -a "$src" "$expect/$id"
    done
    vanish=$(may_vanish "$op" "$before")
    for id in $before; do
        if ! grep -qx "$id" <<<"$after"; then
            grep -qx "$id" <<<"$vanish" || fail "snapshot $id is gone"
            continue
        fi
        t=$work/restore
        rm -rf "$t"
        c restore "$id" --target "$t" >/dev/null 2>&1 || fail "snapshot $id does not restore"
        diff -r "$expect/$id" "$t/src" >/dev/null || fail "snapshot $id restores different bytes"
    done
    case "$op" in
        backup) backup_complete ;;
        forget) c forget --keep-last 3 >/dev/null 2>&1 || fail "forget after the kill did not complete" ;;
        copy)
            cc check >/dev/null 2>&1 || fail "check of the copy fails"
            c copy --to-repo "$copy" >/dev/null 2>&1 || fail "copy after the kill did not complete"
            ;;
        prune) c prune --grace 0 >/dev/null 2>&1 || fail "prune after the kill did not complete: $(c prune --grace 0 2>&1 | tail -n 3)" ;;
    esac
    [ $((point % 10)) -eq 0 ] && echo "torture: $point kill points, $kills processes killed mid-run" >&2
done
cc check >/dev/null 2>&1 || fail "final check of the copy fails"
echo "torture: $points kill points ($kills killed mid-run, the rest had finished), check passed after each, every snapshot intact" >&2
