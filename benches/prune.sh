#!/usr/bin/env bash
# Prune benchmark: time, peak RSS and bytes reclaimed by `coffer forget
# --keep-last KEEP --prune --grace 0s` against `restic forget --keep-last KEEP
# --prune` (restic 0.14 from Debian) on the same DAYS daily snapshots of a
# small, changing dataset, both repositories on a local folder.
#
#   bash benches/prune.sh [DAYS] [KEEP]     # defaults 60 and 7
#
# POLICY="--keep-daily 30 --keep-monthly 12" replaces --keep-last KEEP (for
# both tools). PRUNE_BENCH_KEEP=DIR keeps the repositories as they were before
# the forget in DIR and reuses them on the next run with the same DIR (to
# profile or to repeat a measurement without backing up again).
set -euo pipefail
days=${1:-60}
keep=${2:-7}
read -r -a policy <<<"${POLICY:---keep-last $keep}"
root=$(cd "$(dirname "$0")/.." && pwd)
coffer="${COFFER_BIN:-$root/target/release/coffer}"
[ -x "$coffer" ] || cargo build --release --manifest-path "$root/Cargo.toml"
work=$(mktemp -d "${TMPDIR:-/tmp}/coffer-prune-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
saved=${PRUNE_BENCH_KEEP:-}
export COFFER_PASSWORD=bench RESTIC_PASSWORD=bench COFFER_CACHE_DIR="$work/cache" RESTIC_CACHE_DIR="$work/rcache"

# 200 documents of 4-64 KiB and an 8 MiB dump; each day 5 documents are
# rewritten, 2 added, and 512 KiB of the dump rewritten in place, so old
# chunks become garbage and packs end up partly used.
python3 - "$work/data" <<'PY'
import os, random, sys
d = sys.argv[1]; os.makedirs(d + "/docs")
r = random.Random(1)
for i in range(200):
    open(f"{d}/docs/{i:04}.pdf", "wb").write(r.randbytes(r.randint(4096, 65536)))
open(f"{d}/dump.sql", "wb").write(r.randbytes(8 << 20))
PY
day() {
    python3 - "$work/data" "$1" <<'PY'
import random, sys
d, n = sys.argv[1], int(sys.argv[2]); r = random.Random(n)
for _ in range(5):
    open(f"{d}/docs/{r.randrange(200):04}.pdf", "wb").write(r.randbytes(r.randint(4096, 65536)))
for k in range(2):
    open(f"{d}/docs/new-{n:05}-{k}.pdf", "wb").write(r.randbytes(8192))
with open(f"{d}/dump.sql", "r+b") as f:
    f.seek(r.randrange((8 << 20) - (512 << 10))); f.write(r.randbytes(512 << 10))
PY
}
if [ -n "$saved" ] && [ "$(cat "$saved/days" 2>/dev/null)" = "$days" ]; then
    cp -a "$saved/c" "$saved/r" "$saved/cache" "$saved/rcache" "$work/"
else
"$coffer" --repo "$work/c" init --pack-size 4 >/dev/null
restic -q -r "$work/r" init >/dev/null
for n in $(seq 1 "$days"); do
    day "$n"
    t=$(date -u -d "2026-01-01 + $n days" +%Y-%m-%dT02:00:00Z)
    "$coffer" --repo "$work/c" backup "$work/data" --host erp --time "$t" >/dev/null
    restic -q -r "$work/r" backup "$work/data" --host erp --time "$(date -u -d "$t" '+%Y-%m-%d %H:%M:%S')" >/dev/null
done
if [ -n "$saved" ]; then
    rm -rf "$saved" && mkdir -p "$saved"
    cp -a "$work/c" "$work/r" "$work/cache" "$work/rcache" "$saved/" && echo "$days" >"$saved/days"
fi
fi
size() { du -sb "$1" | cut -f1; }
cb=$(size "$work/c"); rb=$(size "$work/r")
ct=$( { /usr/bin/time -f "%e %M %U %S" "$coffer" --repo "$work/c" forget "${policy[@]}" --prune --grace 0s >/dev/null; } 2>&1 | tail -1)
rt=$( { /usr/bin/time -f "%e %M %U %S" restic -q -r "$work/r" forget "${policy[@]}" --prune >/dev/null; } 2>&1 | tail -1)
ca=$(size "$work/c"); ra=$(size "$work/r")
"$coffer" --repo "$work/c" check --read-data >/dev/null
printf '%s snapshots, %s\n' "$days" "${policy[*]}"
printf '| | coffer | restic 0.14 | coffer / restic |\n|---|---|---|---|\n'
awk -v ct="$ct" -v rt="$rt" -v cb="$cb" -v ca="$ca" -v rb="$rb" -v ra="$ra" 'BEGIN {
  split(ct, c, " "); split(rt, r, " ");
  printf "| forget + prune time | %.2f s | %.2f s | %.2f |\n", c[1], r[1], c[1] / r[1];
  printf "| CPU time (user + sys) | %.2f s | %.2f s | %.2f |\n", c[3] + c[4], r[3] + r[4], (c[3] + c[4]) / (r[3] + r[4]);
  printf "| peak RSS | %.0f MiB | %.0f MiB | %.2f |\n", c[2] / 1024, r[2] / 1024, c[2] / r[2];
  printf "| repository before | %.1f MB | %.1f MB | %.2f |\n", cb / 1e6, rb / 1e6, cb / rb;
  printf "| repository after | %.1f MB | %.1f MB | %.2f |\n", ca / 1e6, ra / 1e6, ca / ra;
  printf "| reclaimed | %.1f MB | %.1f MB | %.2f |\n", (cb - ca) / 1e6, (rb - ra) / 1e6, (cb - ca) / (rb - ra);
}'
