#!/usr/bin/env bash
# Retention benchmark on the ten-year simulation (benches/tenyear-data.sh): on
# COPIES of the cached coffer and restic repositories, time, peak RSS and
# bytes reclaimed of
#   restic forget --keep-daily 30 --keep-monthly 12 --keep-yearly 10 --prune
#   coffer forget --keep-daily 30 --keep-monthly 12 --keep-yearly 10 --prune
# and (on a fresh copy) the same with --grace 0s, which deletes in the same run
# as restic does (the default grace period leaves deletion to the next prune).
# The coffer side runs only when this build's `coffer forget` has `--prune`
# (issue 4); otherwise it says so, times `forget` alone (snapshot objects
# only) and reports what `forget --dry-run --cost` says the plan frees.
#
#   bash benches/retention.sh [DAYS]     # default 3650; builds or extends the cache first
set -euo pipefail
days=${1:-3650}
root=$(cd "$(dirname "$0")/.." && pwd)
coffer="${COFFER_BIN:-$root/target/release/coffer}"
dir="${COFFER_TENYEAR_DIR:-$root/target/tenyear}"
have=$(cat "$dir/days" 2>/dev/null || echo 0)
if [ "$have" -lt "$days" ]; then
    bash "$root/benches/tenyear-data.sh" "$days"
fi
have=$(cat "$dir/days")
policy=(--keep-daily 30 --keep-monthly 12 --keep-yearly 10)
work=$(mktemp -d "${TMPDIR:-/tmp}/coffer-retention-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
export COFFER_PASSWORD=bench RESTIC_PASSWORD=bench TZ=UTC
export COFFER_CACHE_DIR="$work/cache" RESTIC_CACHE_DIR="$work/rcache"
cp -a "$dir/coffer" "$work/coffer"
cp -a "$dir/restic" "$work/restic"
# The copies get caches of their own (warm, so neither tool is timed on a first download).
cp -a "$dir/cache" "$work/cache" 2>/dev/null || true
cp -a "$dir/rcache" "$work/rcache" 2>/dev/null || true
echo "$have daily snapshots; policy ${policy[*]}"

measure() {  # label command...: prints "label seconds peak-KiB cpu-seconds"
    local label=$1; shift
    /usr/bin/time -f "%e %M %U %S" -o "$work/time" "$@" >"$work/$label.out"
    echo "$label $(awk '{printf "%s %s %.2f", $1, $2, $3 + $4}' "$work/time")"
}
bytes() { du -sb "$1" | cut -f1; }

r0=$(bytes "$work/restic")
measure restic-forget-prune restic -q -r "$work/restic" forget "${policy[@]}" --prune | tee "$work/results"
r1=$(bytes "$work/restic")
echo "restic: repository $r0 -> $r1 bytes, reclaimed $((r0 - r1))"

c0=$(bytes "$work/coffer")
if "$coffer" forget --help | grep -qE '^ +--prune( |$)'; then
    measure coffer-forget-prune "$coffer" --repo "$work/coffer" forget "${policy[@]}" --prune | tee -a "$work/results"
    c1=$(bytes "$work/coffer")
    echo "coffer: repository $c0 -> $c1 bytes, reclaimed $((c0 - c1))"
    awk '/restic-forget-prune/{r=$2; rm=$3; ru=$4} /coffer-forget-prune /{c=$2; cm=$3; cu=$4}
         END{printf "coffer/restic forget --prune: time %.2f, CPU time %.2f, peak RSS %.2f\n", c/r, cu/ru, cm/rm}' "$work/results"
    awk -v c="$((c0 - c1))" -v r="$((r0 - r1))" 'BEGIN{ if (r > 0) printf "bytes reclaimed coffer/restic: %.2f\n", c/r }'
    # With the default grace period (1h) the run above is prune's phase 1 only
    # (repack, condemn; nothing deleted until a later prune). restic deletes
    # at once, so the same on a fresh copy with --grace 0s, both phases in one run:
    rm -rf "$work/coffer" "$work/cache"
    cp -a "$dir/coffer" "$work/coffer"
    cp -a "$dir/cache" "$work/cache" 2>/dev/null || true
    measure coffer-forget-prune-grace0 "$coffer" --repo "$work/coffer" forget "${policy[@]}" --prune --grace 0s | tee -a "$work/results"
    c2=$(bytes "$work/coffer")
    echo "coffer --grace 0s: repository $c0 -> $c2 bytes, reclaimed $((c0 - c2))"
    awk '/restic-forget-prune/{r=$2; rm=$3; ru=$4} /coffer-forget-prune-grace0/{c=$2; cm=$3; cu=$4}
         END{printf "coffer --grace 0s/restic forget --prune: time %.2f, CPU time %.2f, peak RSS %.2f\n", c/r, cu/ru, cm/rm}' "$work/results"
    awk -v c="$((c0 - c2))" -v r="$((r0 - r1))" 'BEGIN{ if (r > 0) printf "bytes reclaimed coffer --grace 0s/restic: %.2f\n", c/r }'
else
    echo "coffer forget --prune: not available in this build (issue 4); timing forget alone"
    measure coffer-forget-dry-run-cost "$coffer" --repo "$work/coffer" --json forget "${policy[@]}" --dry-run --cost
    python3 - "$work/coffer-forget-dry-run-cost.out" "$c0" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))["cost"]
print(f"coffer: the plan frees {c['freed_bytes']} bytes of blobs, {c['packs_emptied_bytes']} bytes in "
      f"{c['packs_emptied']} packs emptied whole, of {sys.argv[2]} bytes in the repository (what prune would reclaim)")
PY
    measure coffer-forget "$coffer" --repo "$work/coffer" forget "${policy[@]}"
fi
