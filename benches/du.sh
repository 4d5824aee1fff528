#!/usr/bin/env bash
# Cost-audit benchmark: time and peak RSS of `coffer du --by snapshot` and
# `du --by tag:tenant` on a simulated repository of DAYS back-dated daily
# snapshots of a small, slowly changing dataset, against `restic stats --mode
# raw-data` on the same data (restic 0.14 from Debian).
#
#   bash benches/du.sh [DAYS] [RESTIC_DAYS]     # defaults 3650 and 365
#
# coffer's snapshots are made with `backup --time`; restic's with `backup
# --time` too, on the first RESTIC_DAYS days only (restic's per-snapshot cost
# makes 3,650 of them take far longer than the 10 minutes a run may take), so
# the comparison row uses a coffer repository of the same RESTIC_DAYS days.
set -euo pipefail
days=${1:-3650}
restic_days=${2:-365}
root=$(cd "$(dirname "$0")/.." && pwd)
coffer="${COFFER_BIN:-$root/target/release/coffer}"
[ -x "$coffer" ] || cargo build --release --manifest-path "$root/Cargo.toml"
work=$(mktemp -d "${TMPDIR:-/tmp}/coffer-du-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
export COFFER_PASSWORD=bench RESTIC_PASSWORD=bench COFFER_CACHE_DIR="$work/cache" RESTIC_CACHE_DIR="$work/rcache"

# The dataset: 200 documents of 4-64 KiB and a 2 MiB "dump"; each day one
# document is rewritten, one added, and the dump gains 16 KiB of rows.
python3 - "$work/data" <<'PY'
import os, random, sys
d = sys.argv[1]; os.makedirs(d + "/docs")
r = random.Random(1)
for i in range(200):
    open(f"{d}/docs/{i:04}.pdf", "wb").write(r.randbytes(r.randint(4096, 65536)))
open(f"{d}/dump.sql", "wb").write(r.randbytes(2 << 20))
PY
day() {  # mutate the dataset for day $1
    python3 - "$work/data" "$1" <<'PY'
import os, random, sys
d, n = sys.argv[1], int(sys.argv[2]); r = random.Random(n)
open(f"{d}/docs/{r.randrange(200):04}.pdf", "wb").write(r.randbytes(r.randint(4096, 65536)))
open(f"{d}/docs/new-{n:05}.pdf", "wb").write(r.randbytes(8192))
with open(f"{d}/dump.sql", "ab") as f: f.write(r.randbytes(16384))
PY
}
stamp() { date -u -d "2016-01-01 + $1 days" '+%Y-%m-%d 02:00:00'; }

"$coffer" --repo "$work/coffer" init -q >/dev/null
"$coffer" --repo "$work/coffer-small" init -q >/dev/null
restic -q -r "$work/restic" init >/dev/null
t0=$(date +%s)
for ((i = 0; i < days; i++)); do
    day "$i"
    tenant=$([ $((i % 2)) -eq 0 ] && echo acme || echo globex)
    "$coffer" --repo "$work/coffer" backup -q --tag "tenant=$tenant" --time "$(stamp "$i")" "$work/data" >/dev/null
    if [ "$i" -lt "$restic_days" ]; then
        "$coffer" --repo "$work/coffer-small" backup -q --tag "tenant=$tenant" --time "$(stamp "$i")" "$work/data" >/dev/null
        restic -q -r "$work/restic" backup --tag "tenant=$tenant" --time "$(stamp "$i")" "$work/data" >/dev/null
    fi
done
echo "generated $days coffer + $restic_days restic snapshots in $(( $(date +%s) - t0 )) s" >&2

measure() {  # label command...: prints "label seconds peak-KiB"
    local label=$1; shift
    /usr/bin/time -f "%e %M" -o "$work/time" "$@" >/dev/null
    echo "$label $(cat "$work/time")"
}
# Warm the caches (index sync, trees) so each tool is timed on an audit, not a first download.
"$coffer" --repo "$work/coffer" du --by snapshot >/dev/null
"$coffer" --repo "$work/coffer-small" du --by snapshot >/dev/null
restic -q -r "$work/restic" stats --mode raw-data >/dev/null
{
    measure "coffer-du-by-snapshot-$days" "$coffer" --repo "$work/coffer" du --by snapshot
    measure "coffer-du-by-tag-$days" "$coffer" --repo "$work/coffer" du --by tag:tenant
    measure "coffer-du-by-snapshot-$restic_days" "$coffer" --repo "$work/coffer-small" du --by snapshot
    measure "coffer-du-by-tag-$restic_days" "$coffer" --repo "$work/coffer-small" du --by tag:tenant
    measure "restic-stats-raw-data-$restic_days" restic -q -r "$work/restic" stats --mode raw-data
} | tee "$work/results"
awk '/coffer-du-by-snapshot-'"$restic_days"' /{c=$2; cm=$3} /restic-stats/{r=$2; rm=$3}
     END{ if (r > 0) printf "coffer du --by snapshot / restic stats raw-data (%s snapshots): time %.2f, peak RSS %.2f\n", "'"$restic_days"'", c/r, cm/rm }' "$work/results"
