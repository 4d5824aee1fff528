#!/usr/bin/env bash
# coffer against restic on the same ERP data, in one run, plus the throughput
# limits of the machine measured in the same run.
#
#   benches/compare.sh [--scale small|medium] [--days N] [--docs-mb M] [--no-many-small]
#
# Builds coffer (cargo build --release), generates or reuses the data under
# target/bench-data (a dump series from benches/data/gen-erp-series.sh, a mixed
# documents tree and a 90,000-file tree from benches/data/gen-documents.sh), then
# for each tool, in fresh local repositories target/bench-{coffer,restic}-SCALE:
#   1. first backup of day 1's dump from stdin           -> MB/s, peak RSS
#   1b. the same dump again (nothing new to store)       -> MB/s
#   2. first backup of the documents tree                -> MB/s, peak RSS
#   3. unchanged re-backup of the documents tree         -> seconds
#   4. days 2..N of the dump                             -> bytes added per day (repo growth)
#   5. stream restore of the last dump to /dev/null      -> MB/s, peak RSS
#   6. 90k-file tree: first backup, one --nightly change, re-backup -> seconds
# and the limits: zstd -3 -T2 on the dump, b3sum on the documents.
# Prints a side-by-side table with ratios and writes it to target/bench-compare-SCALE.md.
#
# Needs restic, zstd, b3sum and GNU time (bash .ci/install). Until the coffer
# CLI builds, only the restic half and the limits run.
set -euo pipefail

say() { echo "compare: $*" >&2; }
die() { say "error: $*"; exit 1; }

scale=small
days=
docs_mb=
many_small=1
while [ $# -gt 0 ]; do
    case "$1" in
        --scale) scale=${2:?--scale needs a value}; shift 2 ;;
        --days) days=${2:?--days needs a value}; shift 2 ;;
        --docs-mb) docs_mb=${2:?--docs-mb needs a value}; shift 2 ;;
        --no-many-small) many_small=0; shift ;;
        -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
        *) die "unknown argument $1 (see --help)" ;;
    esac
done
case "$scale" in
    small) days=${days:-7}; docs_mb=${docs_mb:-100} ;;
    medium) days=${days:-7}; docs_mb=${docs_mb:-300} ;;
    *) die "--scale must be small or medium, not '$scale'" ;;
esac
[[ "$days" =~ ^[0-9]+$ ]] && [ "$days" -ge 2 ] || die "--days must be at least 2"

root=$(git -C "$(dirname "$0")" rev-parse --show-toplevel 2>/dev/null) ||
    root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

for tool in restic zstd b3sum /usr/bin/time python3; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool not found (run: bash .ci/install)"
done

target=${CARGO_TARGET_DIR:-$root/target}
data=$target/bench-data
work=$target/bench-work-$scale
mkdir -p "$data" "$work"

# ---------------------------------------------------------------- coffer build
coffer=
say "building coffer (cargo build --release)"
if cargo build --release --quiet 2>"$work/build.log"; then
    coffer=$target/release/coffer
    [ -x "$coffer" ] || { say "built, but $coffer is missing"; coffer=; }
else
    say "coffer does not build yet; running the restic half and the limits only. Last lines:"
    tail -n 3 "$work/build.log" >&2
fi

# ------------------------------------------------------------------------ data
series=$data/erp-$scale
if [ -f "$series/series.done" ] && [ -f "$series/$(printf 'day-%03d.dump' "$days")" ]; then
    say "reusing $series"
else
    say "generating the $scale dump series ($days days) in $series"
    benches/data/gen-erp-series.sh "$series" --scale "$scale" --days "$days" >/dev/null
fi
docs=$data/docs-${docs_mb}mb
if [ ! -f "$docs.gen.json" ]; then
    say "generating a ${docs_mb} MB documents tree in $docs"
    rm -rf "$docs"
    benches/data/gen-documents.sh "$docs" --mb "$docs_mb"
else
    say "reusing $docs"
fi
many=$data/docs-many-small
if [ "$many_small" -eq 1 ]; then
    if [ ! -f "$many.gen.json" ]; then
        say "generating the 90,000-file tree in $many (about 30 s)"
        rm -rf "$many"
        benches/data/gen-documents.sh "$many" --many-small
    else
        say "reusing $many (it gains one night per run)"
    fi
fi

day_file() { printf '%s/day-%03d.dump' "$series" "$1"; }
size_of() { stat -c %s "$1"; }
tree_bytes() { find "$1" -type f -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }'; }
repo_bytes() { du -sb "$1" | cut -f1; }
# Read inputs once before each measured phase so both tools find them in the page cache.
warm() {
    local p
    for p in "$@"; do
        if [ -d "$p" ]; then find "$p" -type f -print0 | xargs -0 cat >/dev/null; else cat "$p" >/dev/null; fi
    done
}
calc() { awk "BEGIN { x = $1; printf \"%.${2:-2}f\", x }"; }

# timed KEY OUT CMD... : runs CMD (stdin passed through, stdout to OUT), records
# wall seconds in T[KEY.s] and peak RSS in MB in T[KEY.rss]; aborts with the
# command's stderr on failure.
declare -A T
timed() {
    local key=$1 out=$2
    shift 2
    if ! /usr/bin/time -f '%e %M' -o "$work/time" "$@" >"$out" 2>"$work/stderr"; then
        say "$key failed: $*"
        tail -n 20 "$work/stderr" >&2
        exit 1
    fi
    local secs rss_kb
    read -r secs rss_kb < <(tail -n 1 "$work/time")
    T[$key.s]=$secs
    T[$key.rss]=$(calc "$rss_kb / 1024" 0)
}

# ------------------------------------------------------------------- the tools
export RESTIC_PASSWORD=bench-password COFFER_PASSWORD=bench-password
export RESTIC_CACHE_DIR=$work/restic-cache
restic_repo=$target/bench-restic-$scale
coffer_repo=$target/bench-coffer-$scale
rm -rf "$restic_repo" "$coffer_repo" "$RESTIC_CACHE_DIR"
restic -q -r "$restic_repo" init >/dev/null
[ -z "$coffer" ] || "$coffer" init --repo "$coffer_repo" >/dev/null

tools=(restic)
[ -z "$coffer" ] || tools=(coffer restic)

# backup_stdin TOOL KEY FILE : FILE through stdin as erp.dump.
backup_stdin() {
    case "$1" in
        coffer) timed "$2" "$work/$2.json" "$coffer" backup --repo "$coffer_repo" --json \
                    --tag kind=db --stdin --stdin-name erp.dump <"$3" ;;
        restic) timed "$2" "$work/$2.json" restic -q -r "$restic_repo" backup --json \
                    --tag db --stdin --stdin-filename erp.dump <"$3" ;;
    esac
}
# backup_tree TOOL KEY DIR
backup_tree() {
    case "$1" in
        coffer) timed "$2" "$work/$2.json" "$coffer" backup --repo "$coffer_repo" --json "$3" </dev/null ;;
        restic) timed "$2" "$work/$2.json" restic -q -r "$restic_repo" backup --json "$3" </dev/null ;;
    esac
}
json_field() { python3 -c '
import json, sys
for line in reversed(open(sys.argv[1]).read().splitlines()):
    try:
        d = json.loads(line)
    except ValueError:
        continue
    if sys.argv[2] in d:
        print(d[sys.argv[2]]); break
' "$1" "$2"; }

dump1=$(day_file 1)
dump1_mb=$(calc "$(size_of "$dump1") / 1e6")
docs_mb_real=$(calc "$(tree_bytes "$docs") / 1e6")

say "1. first backup of the day-1 dump (${dump1_mb} MB)"
warm "$dump1"
for t in "${tools[@]}"; do backup_stdin "$t" "$t.dump1" "$dump1"; done

say "1b. the same dump again (unchanged: read, chunked, hashed, nothing stored)"
for t in "${tools[@]}"; do warm "$dump1"; backup_stdin "$t" "$t.dump1again" "$dump1"; done

say "2. first backup of the documents ($docs_mb_real MB)"
warm "$docs"
for t in "${tools[@]}"; do backup_tree "$t" "$t.docs1" "$docs"; done

say "3. unchanged re-backup of the documents"
# Warmed before each tool: whichever ran first would otherwise warm the
# kernel's inode and directory caches for the other.
for t in "${tools[@]}"; do warm "$docs"; backup_tree "$t" "$t.docs2" "$docs"; done

say "4. days 2..$days of the dump"
for t in "${tools[@]}"; do
    repo=$restic_repo; [ "$t" = coffer ] && repo=$coffer_repo
    T[$t.series_before]=$(repo_bytes "$repo")
done
for ((d = 2; d <= days; d++)); do
    f=$(day_file "$d")
    warm "$f"
    for t in "${tools[@]}"; do
        repo=$restic_repo; [ "$t" = coffer ] && repo=$coffer_repo
        before=$(repo_bytes "$repo")
        backup_stdin "$t" "$t.day$d" "$f"
        T[$t.day$d.added]=$(($(repo_bytes "$repo") - before))
    done
done
for t in "${tools[@]}"; do
    repo=$restic_repo; [ "$t" = coffer ] && repo=$coffer_repo
    T[$t.repo]=$(repo_bytes "$repo")
    T[$t.series_added]=$((T[$t.repo] - T[$t.series_before]))
done
last=$(day_file "$days")
last_mb=$(calc "$(size_of "$last") / 1e6")

say "5. stream restore of day $days's dump to /dev/null"
if [ -n "$coffer" ]; then
    snap=$(json_field "$work/coffer.day$days.json" snapshot_id)
    [ -n "$snap" ] || die "no snapshot_id in coffer backup --json output ($work/coffer.day$days.json)"
    timed coffer.restore /dev/null "$coffer" cat --repo "$coffer_repo" "$snap:erp.dump"
fi
timed restic.restore /dev/null restic -q -r "$restic_repo" dump --tag db latest /erp.dump

if [ "$many_small" -eq 1 ]; then
    many_files=$(find "$many" -type f | wc -l)
    say "6. the $many_files-file tree: first backup, one night, re-backup"
    warm "$many"
    for t in "${tools[@]}"; do backup_tree "$t" "$t.many1" "$many"; done
    benches/data/gen-documents.sh "$many" --nightly
    for t in "${tools[@]}"; do warm "$many"; backup_tree "$t" "$t.many2" "$many"; done
fi

say "7. fixed cost per command (listing snapshots) and limits"
[ -z "$coffer" ] || timed coffer.list /dev/null "$coffer" snapshots --repo "$coffer_repo"
timed restic.list /dev/null restic -q -r "$restic_repo" snapshots
# zstd gets at least 256 MB (the dump repeated) so its start-up does not count.
zstd_repeat=$(( (256000000 + $(size_of "$dump1") - 1) / $(size_of "$dump1") ))
zstd_mb=$(calc "$zstd_repeat * $(size_of "$dump1") / 1e6")
timed limit.zstd /dev/null sh -c 'i=0; while [ $i -lt "$2" ]; do cat "$1"; i=$((i + 1)); done | zstd -q -3 -T2 -c' \
    sh "$dump1" "$zstd_repeat"
timed limit.b3dump /dev/null b3sum "$dump1"
timed limit.b3sum /dev/null sh -c 'find "$1" -type f -print0 | xargs -0 b3sum' sh "$docs"
# Both tools write every byte of a first backup to disk and fsync it: the
# disk's own sequential write rate, through the same file system, bounds them too.
timed limit.disk /dev/null sh -c 'find "$1" -type f -print0 | xargs -0 cat | dd of="$2" bs=16M conv=fsync status=none; rm -f "$2"' \
    sh "$docs" "$work/disk-limit.tmp"

# ---------------------------------------------------------------------- report
rate() { calc "$1 / (${2} > 0 ? $2 : 0.01)" 1; }   # MB / s
ratio() { if [ -n "$1" ] && [ -n "$2" ]; then calc "$1 / (${2} > 0 ? $2 : 0.01)" 2; else echo "-"; fi; }
# V[tool.measure]: the figures of the table.
declare -A V
for t in "${tools[@]}"; do
    V[$t.dump1]=$(rate "$dump1_mb" "${T[$t.dump1.s]}")
    V[$t.dump1again]=$(rate "$dump1_mb" "${T[$t.dump1again.s]}")
    V[$t.docs1]=$(rate "$docs_mb_real" "${T[$t.docs1.s]}")
    V[$t.docs2]=${T[$t.docs2.s]}
    V[$t.added]=$(calc "${T[$t.series_added]} / ($days - 1) / 1e6" 2)
    V[$t.repo]=$(calc "${T[$t.repo]} / 1e6" 1)
    V[$t.restore]=$(rate "$last_mb" "${T[$t.restore.s]}")
    V[$t.rss_dump]=${T[$t.dump1.rss]}
    V[$t.rss_docs]=${T[$t.docs1.rss]}
    V[$t.rss_restore]=${T[$t.restore.rss]}
    V[$t.list]=${T[$t.list.s]}
    if [ "$many_small" -eq 1 ]; then
        V[$t.many1]=${T[$t.many1.s]}
        V[$t.many2]=${T[$t.many2.s]}
        V[$t.rss_many]=${T[$t.many1.rss]}
    fi
done
zstd_rate=$(rate "$zstd_mb" "${T[limit.zstd.s]}")
b3_rate=$(rate "$docs_mb_real" "${T[limit.b3sum.s]}")
b3_dump_rate=$(rate "$dump1_mb" "${T[limit.b3dump.s]}")
disk_rate=$(rate "$docs_mb_real" "${T[limit.disk.s]}")

report=$target/bench-compare-$scale.md
{
    echo "## coffer vs restic $(restic version | cut -d' ' -f2), scale $scale ($(date -u +%Y-%m-%d))"
    echo
    echo "dump: ${dump1_mb} MB/day (pg_dump -Fc -Z0), $days days; documents: $docs_mb_real MB in $(find "$docs" -type f | wc -l) files; $(nproc) cores"
    if [ "$scale" = small ]; then
        echo
        echo "At this scale each command's fixed cost (key derivation, index load; see the list row)"
        echo "dominates the dump and restore rates: read throughput from --scale medium."
    fi
    echo
    echo "| measure | coffer | restic | coffer/restic | limit | coffer/limit |"
    echo "|---|---:|---:|---:|---:|---:|"
    row() { echo "| $1 | ${2:--} | ${3:--} | $(ratio "${2:-}" "${3:-}") | ${4:--} | $(ratio "${2:-}" "${4:-}") |"; }
    row "first backup, dump from stdin (MB/s)" "${V[coffer.dump1]:-}" "${V[restic.dump1]}" "$zstd_rate"
    row "unchanged dump backed up again (MB/s, whole command)" "${V[coffer.dump1again]:-}" "${V[restic.dump1again]}" "$b3_dump_rate"
    row "first backup, documents (MB/s)" "${V[coffer.docs1]:-}" "${V[restic.docs1]}" "$b3_rate"
    row "first backup, documents vs disk write+fsync (MB/s)" "${V[coffer.docs1]:-}" "${V[restic.docs1]}" "$disk_rate"
    row "unchanged re-backup, documents (s)" "${V[coffer.docs2]:-}" "${V[restic.docs2]}"
    if [ "$many_small" -eq 1 ]; then
        row "first backup, $many_files small files (s)" "${V[coffer.many1]:-}" "${V[restic.many1]}"
        row "re-backup after one night, $many_files files (s)" "${V[coffer.many2]:-}" "${V[restic.many2]}"
    fi
    row "bytes added per day, mean of days 2-$days (MB)" "${V[coffer.added]:-}" "${V[restic.added]}"
    row "repository size after $days days + trees (MB)" "${V[coffer.repo]:-}" "${V[restic.repo]}"
    row "stream restore of a dump (MB/s)" "${V[coffer.restore]:-}" "${V[restic.restore]}"
    row "fixed cost of a command: list snapshots (s)" "${V[coffer.list]:-}" "${V[restic.list]}"
    row "peak RSS, dump backup (MB)" "${V[coffer.rss_dump]:-}" "${V[restic.rss_dump]}"
    row "peak RSS, documents backup (MB)" "${V[coffer.rss_docs]:-}" "${V[restic.rss_docs]}"
    [ "$many_small" -eq 0 ] || row "peak RSS, $many_files-file backup (MB)" "${V[coffer.rss_many]:-}" "${V[restic.rss_many]}"
    row "peak RSS, stream restore (MB)" "${V[coffer.rss_restore]:-}" "${V[restic.rss_restore]}"
    echo
    echo "Limits measured in this run: zstd -3 -T2 on the dump ${zstd_rate} MB/s; b3sum over the documents ${b3_rate} MB/s,"
    echo "over the dump ${b3_dump_rate} MB/s (the unchanged dump's limit: it is only chunked and hashed);"
    echo "writing the documents' bytes to this disk with fsync ${disk_rate} MB/s"
    echo "(BLAKE3 only; the AEAD part of the limit comes from \`cargo bench --bench chunking\`)."
    echo
    echo "| day | coffer added (bytes) | restic added (bytes) |"
    echo "|---|---:|---:|"
    for ((d = 2; d <= days; d++)); do
        echo "| $d | ${T[coffer.day$d.added]:--} | ${T[restic.day$d.added]} |"
    done
    [ -n "$coffer" ] || { echo; echo "coffer did not build: its columns are empty."; }
} >"$report"
cat "$report"
say "report written to $report"
