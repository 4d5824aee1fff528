#!/usr/bin/env bash
# coffer against restic on a local S3 server, in one run: backup and restore
# throughput to the same server, and how many requests each makes.
#
#   bash benches/compare-s3.sh [MiB]      # default 256: half a dump-like text, half random documents
#
# Starts its own moto S3 server on 127.0.0.1:$COFFER_BENCH_S3_PORT (default
# 54340), so no other client's requests mix into its request log, which is
# where both tools' requests are counted (one line per HTTP request).
# Needs restic and moto (bash .ci/install). Prints a Markdown table.
set -euo pipefail
cd "$(dirname "$0")/.."

mib=${1:-256}
port=${COFFER_BENCH_S3_PORT:-54340}
work=$(mktemp -d "${TMPDIR:-/tmp}/coffer-s3-bench-XXXXXX")
bucket=bench
say() { echo "compare-s3: $*" >&2; }
calc() { awk "BEGIN { x = $1; printf \"%.${2:-2}f\", x }"; }

cargo build --release --quiet
coffer=$PWD/target/release/coffer

python3 -m moto.server -H 127.0.0.1 -p "$port" >"$work/moto.log" 2>&1 &
moto_pid=$!
trap 'kill $moto_pid 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 100); do
    python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/', timeout=1)" \
        2>/dev/null && break
    sleep 0.2
done
python3 -c "import urllib.request; urllib.request.urlopen(urllib.request.Request('http://127.0.0.1:$port/$bucket', method='PUT', data=b''))"

export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench AWS_REGION=us-east-1
export AWS_DEFAULT_REGION=us-east-1
export COFFER_PASSWORD=bench RESTIC_PASSWORD=bench
export RESTIC_CACHE_DIR=$work/restic-cache
endpoint=http://127.0.0.1:$port

say "generating $mib MiB of input"
mkdir -p "$work/src"
half=$((mib / 2))
# Dump-like text (compresses ~4x, like pg_dump output) and incompressible documents.
python3 - "$work/src/erp.sql" "$half" <<'EOF'
import sys, random
r = random.Random(7); n = int(sys.argv[2]) << 20
with open(sys.argv[1], "w") as f:
    i = 0; size = 0
    while size < n:
        line = f"{i}\tFA{i % 100000:05d}\t{r.randrange(300)}\t2026-05-{1 + i % 28:02d}\t{r.randrange(10**6) / 100:.2f}\tBoulangerie Martin\n"
        f.write(line); size += len(line); i += 1
EOF
head -c "$((half << 20))" /dev/urandom >"$work/src/scans.bin"
bytes=$(du -cb "$work/src"/* | tail -1 | cut -f1)

requests() { grep -cE '"(GET|PUT|POST|HEAD|DELETE) ' "$work/moto.log" || true; }
declare -A T R
phase() { # name command...
    local before start end
    before=$(requests)
    start=$(date +%s.%N)
    "${@:2}" >/dev/null
    end=$(date +%s.%N)
    T[$1]=$(calc "$end - $start" 3)
    R[$1]=$(( $(requests) - before ))
}

c=(env -u AWS_ENDPOINT "$coffer" --repo "s3://$bucket/coffer" --s3-endpoint "$endpoint" --cache-dir "$work/coffer-cache")
r=(restic -q -r "s3:$endpoint/$bucket/restic")
"${c[@]}" init >/dev/null
"${r[@]}" init >/dev/null

sync
phase coffer.backup "${c[@]}" backup "$work/src"
phase restic.backup "${r[@]}" backup "$work/src"
phase coffer.again "${c[@]}" backup "$work/src"
phase restic.again "${r[@]}" backup "$work/src"
# A restore on a new machine: empty caches.
rm -rf "$work/coffer-cache" "$RESTIC_CACHE_DIR"
phase coffer.restore "${c[@]}" restore latest --target "$work/out-coffer"
phase restic.restore "${r[@]}" restore latest --target "$work/out-restic"
cmp "$work/src/erp.sql" "$work/out-coffer$work/src/erp.sql" 2>/dev/null ||
    cmp "$work/src/erp.sql" "$work/out-coffer/src/erp.sql"

mb=$(calc "$bytes / 1000000" 1)
gb=$(calc "$bytes / 1000000000" 4)
rate() { calc "$bytes / 1000000 / ${T[$1]}" 1; }
row() { # label coffer restic
    printf '| %s | %s | %s | %s |\n' "$1" "$2" "$3" "$(calc "$2 / ($3 > 0 ? $3 : 0.001)" 2)"
}
echo "## coffer vs restic $(restic version | cut -d' ' -f2) on a local S3 server (moto), $mb MB ($(date -u +%Y-%m-%d))"
echo
echo "| measure | coffer | restic | coffer/restic |"
echo "| --- | --- | --- | --- |"
row "first backup (MB/s)" "$(rate coffer.backup)" "$(rate restic.backup)"
row "unchanged re-backup (s)" "${T[coffer.again]}" "${T[restic.again]}"
row "restore on a new machine (MB/s)" "$(rate coffer.restore)" "$(rate restic.restore)"
row "requests, first backup, per GB backed up" "$(calc "${R[coffer.backup]} / $gb" 0)" "$(calc "${R[restic.backup]} / $gb" 0)"
row "requests, unchanged re-backup" "${R[coffer.again]}" "${R[restic.again]}"
row "requests, restore, per GB restored" "$(calc "${R[coffer.restore]} / $gb" 0)" "$(calc "${R[restic.restore]} / $gb" 0)"
