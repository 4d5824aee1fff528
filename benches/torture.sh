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
# TORTURE_OPS narrows the rotation (e.g. "backup prune") to hunt one failure.
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
# A failure keeps the work folder (repositories, sources, expected trees) for a post-mortem.
fail() { trap - EXIT; echo "torture: FAILED at kill point $point ($op): $* (work folder kept: $work)" >&2; exit 1; }
snapshot_ids() { c --json snapshots | python3 -c 'import json,sys; print("\n".join(s["id"] for s in json.load(sys.stdin)))'; }

# Some change to the source each round: a new file of random size (up to 6 MiB
# of random bytes, so backups upload many 1 MiB packs and take long enough to
# be killed in the middle), one file rewritten, and the oldest files removed
# beyond 6, so the source stays bounded and forget and prune find garbage.
mutate() {
    head -c $(( (RANDOM * 32768 + RANDOM) % (6 << 20) + 1 )) /dev/urandom >"$src/f$point-$RANDOM.bin"
    local some
    some=$(ls -t "$src" | tail -n 1)
    head -c 4096 /dev/urandom >>"$src/$some"
    ls -t "$src" | tail -n +7 | while read -r old; do rm -f "$src/$old"; done
}

now_ms() { date +%s%3N; }

backup_complete() {
    local id
    id=$(c --json backup "$src" 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["snapshot_id"])') ||
        fail "a backup after the kill did not complete"
    ended=$(now_ms)
    rm -rf "${expect:?}/$id"
    cp -a "$src" "$expect/$id"
}

# The arguments of each operation. The background process must be coffer
# itself, not a shell function running it: SIGKILL to a subshell would leave
# coffer running on as an orphan beside the checks.
operation_args() {
    case "$1" in
        backup) args=(backup "$src") ;;
        forget) args=(forget --keep-last 3) ;;
        copy) args=(copy --to-repo "$copy") ;;
        prune) args=(prune --grace 0) ;;
    esac
}

# Which snapshots the operation may remove: forget keeps the newest three.
may_vanish() {
    [ "$1" = forget ] || return 0
    head -n -3 <<<"$2"
}

c init --pack-size 1 >/dev/null
cc init --from-repo "$repo" --copy-chunker-params >/dev/null
point=0 op=setup
mutate
backup_complete
kills=0 inside=0
# How long each operation took when last run to the end, in ms: the kill lands
# uniformly between half of that and a little past the end, so whatever the
# machine's speed it falls mostly in the operation's work rather than in the
# opening (argon2id alone is ~0.2 s), and a few runs finish.
declare -A took=([backup]=1000 [forget]=600 [copy]=1000 [prune]=800)
lock_files() { { find "$repo/locks" "$copy/locks" -type f 2>/dev/null || true; } | sort; }
for point in $(seq 1 "$points"); do
    read -ra ops <<<"${TORTURE_OPS:-backup forget copy prune}"
    op=${ops[$((point % ${#ops[@]}))]}
    mutate
    before=$(snapshot_ids)
    locks_before=$(lock_files)
    operation_args "$op"
    "$coffer" --repo "$repo" --cache-dir "$work/cache" "${args[@]}" >/dev/null 2>&1 &
    pid=$!
    delay=$(( took[$op] / 2 + (RANDOM * 32768 + RANDOM) % (took[$op] * 6 / 10 + 1) ))
    sleep "$(printf '%d.%03d' $((delay / 1000)) $((delay % 1000)))"
    if kill -KILL "$pid" 2>/dev/null; then kills=$((kills + 1)); fi
    [ -n "${TORTURE_DEBUG:-}" ] && echo "point $point $op: last run ${took[$op]} ms, SIGKILL sent after $delay ms" >&2
    wait "$pid" 2>/dev/null || true
    # A lock left behind means the kill landed after the repository was opened
    # and locked, while the operation was doing its work.
    if [ -n "$(comm -13 <(echo "$locks_before") <(lock_files))" ]; then inside=$((inside + 1)); fi

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
        diff -r "$expect/$id" "$t/src" >"$work/diff" 2>&1 || fail "snapshot $id restores different bytes: $(head -c 600 "$work/diff")"
    done
    started=$(now_ms) ended=
    case "$op" in
        backup) backup_complete ;;
        forget) c forget --keep-last 3 >/dev/null 2>"$work/rerun" || fail "forget after the kill did not complete: $(tail -n 5 "$work/rerun")" ;;
        copy)
            cc check >/dev/null 2>&1 || fail "check of the copy fails"
            started=$(now_ms)
            c copy --to-repo "$copy" >/dev/null 2>"$work/rerun" || fail "copy after the kill did not complete: $(tail -n 5 "$work/rerun")"
            ;;
        prune) c prune --grace 0 >"$work/rerun" 2>&1 || fail "prune after the kill did not complete (exit $?): $(tail -n 5 "$work/rerun")" ;;
    esac
    took[$op]=$(( ${ended:-$(now_ms)} - started ))
    # Expected trees of snapshots forgotten since are no longer needed.
    current=$(snapshot_ids)
    for kept in "$expect"/*; do
        [ -e "$kept" ] || continue
        grep -qx "$(basename "$kept")" <<<"$current" || rm -rf "$kept"
    done
    [ $((point % 10)) -eq 0 ] && echo "torture: $point kill points, $kills processes killed mid-run, $inside of them holding a lock" >&2
done
cc check >/dev/null 2>&1 || fail "final check of the copy fails"
echo "torture: $points kill points ($kills killed mid-run, $inside of them while holding a lock, the rest had finished), check passed after each, every snapshot intact" >&2
