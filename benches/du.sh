#!/usr/bin/env bash
# Cost-audit benchmark on the ten-year simulation (benches/tenyear-data.sh):
# time and peak RSS of `coffer du --by snapshot` and `coffer du --by tag:year`
# against `restic stats --mode raw-data` (restic 0.14 from Debian), both on
# repositories holding the same daily snapshots of the same data.
#
#   bash benches/du.sh [DAYS]     # default 3650; builds or extends the cache first
#
# Uses whatever the cache holds when it holds at least DAYS days (more is
# fine: the figures say how many snapshots were audited). Set
# COFFER_TENYEAR_DIR to use a cache elsewhere. Read-only on the cache.
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
export COFFER_PASSWORD=bench RESTIC_PASSWORD=bench TZ=UTC
export COFFER_CACHE_DIR="$dir/cache" RESTIC_CACHE_DIR="$dir/rcache"
work=$(mktemp -d "${TMPDIR:-/tmp}/coffer-du-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT

measure() {  # label command...: prints "label seconds peak-KiB"
    local label=$1; shift
    /usr/bin/time -f "%e %M" -o "$work/time" "$@" >/dev/null
    echo "$label $(cat "$work/time")"
}
# Warm both tools' caches (index sync, trees), so each is timed on an audit.
"$coffer" --repo "$dir/coffer" du --by snapshot >/dev/null
restic -q -r "$dir/restic" stats --mode raw-data >/dev/null
echo "audited: $have daily snapshots in each repository ($dir)"
{
    measure coffer-snapshots "$coffer" --repo "$dir/coffer" snapshots
    measure restic-snapshots restic -q -r "$dir/restic" snapshots
    for run in 1 2; do
        measure coffer-du-by-snapshot "$coffer" --repo "$dir/coffer" du --by snapshot
        measure coffer-du-by-tag "$coffer" --repo "$dir/coffer" du --by tag:year
        measure restic-stats-raw-data restic -q -r "$dir/restic" stats --mode raw-data
    done
} | tee "$work/results"
awk '
    { t[$1] = (t[$1] == "" || $2 < t[$1]) ? $2 : t[$1]; m[$1] = ($3 > m[$1]) ? $3 : m[$1] }
    END {
        r = "restic-stats-raw-data"
        printf "best of two; coffer/restic stats --mode raw-data:\n"
        printf "  du --by snapshot: time %.2f, peak RSS %.2f\n", t["coffer-du-by-snapshot"] / t[r], m["coffer-du-by-snapshot"] / m[r]
        printf "  du --by tag:year: time %.2f, peak RSS %.2f\n", t["coffer-du-by-tag"] / t[r], m["coffer-du-by-tag"] / m[r]
        printf "  fixed cost (snapshots listing): coffer %.2f s, restic %.2f s\n", t["coffer-snapshots"], t["restic-snapshots"]
    }' "$work/results"
