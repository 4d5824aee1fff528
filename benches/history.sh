#!/usr/bin/env bash
# Point-in-time reads on ten years of nightly snapshots, and coffer against
# restic 0.14 on the same data at a smaller number of nights.
#
#   benches/history.sh [--days 3650] [--files 100000] [--restic-days 30] [--runs 5] [--cold-runs 3] [--no-s3] [--no-build]
#
# 1. coffer-sim writes a repository of DAYS back-dated nightly snapshots of an
#    ERP document tree of FILES files (sim/, deterministic from its seed)
#    into target/bench-history/, on a folder and (unless --no-s3) on the S3
#    test server ($COFFER_TEST_S3_ENDPOINT, from .ci/services);
# 2. times, as whole processes of the real `coffer` binary (median of RUNS,
#    after one warm-up), `cat --as-of` of one invoice with a warm cache,
#    the same with the key agent holding the key (no password, no argon2id),
#    the same from S3 with a new empty cache each run (also with the agent), `log` of a contract and
#    of an invoice across all nights, and `find` of one invoice;
# 3. materialises RESTIC_DAYS nights of the same plan as files and backs each
#    up with both restic and `coffer backup --time`, then times `restic dump`
#    against `coffer cat --as-of` (warm, and cold from S3) and `restic find`
#    against `coffer find`, in the same run.
# Prints a table and writes it to target/bench-history/report.md.
#
# Needs restic and python3 with boto3 (for uploading restic's repository to S3).
set -euo pipefail

say() { echo "history: $*" >&2; }
die() { say "error: $*"; exit 1; }

days=3650
files=100000
restic_days=30
runs=5
# A cold read of the long history takes tens of seconds against moto.
cold_runs=3
s3=1
build=1
while [ $# -gt 0 ]; do
    case "$1" in
        --days) days=${2:?}; shift 2 ;;
        --files) files=${2:?}; shift 2 ;;
        --restic-days) restic_days=${2:?}; shift 2 ;;
        --runs) runs=${2:?}; shift 2 ;;
        --cold-runs) cold_runs=${2:?}; shift 2 ;;
        --no-s3) s3=0; shift ;;
        --no-build) build=0; shift ;;
        -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
        *) die "unknown argument $1 (see --help)" ;;
    esac
done

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
target=${CARGO_TARGET_DIR:-$root/target}
work=$target/bench-history
mkdir -p "$work"
if [ "$build" = 1 ]; then
    cargo build --release --quiet --bin coffer && cargo build --release --quiet -p coffer-sim
fi
coffer=$target/release/coffer
sim=$target/release/coffer-sim
command -v restic >/dev/null || die "restic not found (run: bash .ci/install)"
if [ "$s3" = 1 ]; then
    [ -n "${COFFER_TEST_S3_ENDPOINT:-}" ] || eval "$(bash .ci/services)"
    endpoint=$COFFER_TEST_S3_ENDPOINT
    bucket=${COFFER_TEST_S3_BUCKET:-coffer-test}
fi

pw=$work/password
[ -f "$pw" ] || echo "bench-history" > "$pw"
export COFFER_PASSWORD_FILE=$pw RESTIC_PASSWORD_FILE=$pw
plan=(--days "$days" --files "$files")

# median/min/max wall seconds of RUNS runs of a command (after one warm-up run).
# With PREPARE set, that command runs (untimed) before each run.
timed() {
    local name=$1; shift
    local out=$work/$name.out
    ${PREPARE:-true}
    "$@" >"$out" 2>&1 || { cat "$out" >&2; die "$name failed: $*"; }
    local times=()
    for _ in $(seq "$runs"); do
        ${PREPARE:-true}
        local start=$EPOCHREALTIME
        "$@" >"$out" 2>&1 || { cat "$out" >&2; die "$name failed: $*"; }
        local end=$EPOCHREALTIME
        times+=("$(python3 -c "print($end - $start)")")
    done
    local stats
    stats=$(printf '%s\n' "${times[@]}" | sort -g | python3 -c '
import sys
t = [float(x) for x in sys.stdin]
print(f"{t[len(t)//2]:.3f} {t[0]:.3f} {t[-1]:.3f}")')
    R[$name]=$stats
    say "$name: median/min/max ${stats// / / } s"
}
declare -A R

# --- 1. the long history, written by the generator ----------------------------
local_repo=$work/coffer-$days-$files
if [ ! -f "$local_repo/config" ]; then
    rm -rf "$local_repo"
    say "generating $days nights over $files files into $local_repo"
    start=$EPOCHREALTIME
    "$sim" generate --repo "$local_repo" --password-file "$pw" "${plan[@]}"
    say "generated in $(python3 -c "print(round($EPOCHREALTIME - $start))") s"
fi
last=$((days - 1))
# An invoice of the last month, and the contract revised most often.
invoice=$("$sim" list "${plan[@]}" --night "$last" | grep '^documents/facture/' | tail -n 50 | head -n 1)
contract=documents/contrats/acme.pdf
as_of=$(python3 -c "
import datetime; print((datetime.date(2016, 6, 1) + datetime.timedelta(days=$last)).isoformat())")
say "reading $invoice as of $as_of"

warm=$work/cache-warm
C=("$coffer" --repo "$local_repo" --cache-dir "$warm")
timed cat_warm "${C[@]}" cat --as-of "$as_of" "$invoice"
# The floor under every command: open the repository (argon2id of the key
# file, by design ~0.2 s on a quiet machine) and list the keys.
timed open_warm "${C[@]}" key list
timed snapshots_warm "${C[@]}" snapshots --json
# The same with the key agent holding the key (`coffer agent start`): what a
# series of commands costs after the first, without the key derivation.
agent_sock=$work/agent/agent.sock
mkdir -p "$work/agent" && chmod 700 "$work/agent"
A=(--agent-socket "$agent_sock")
trap '"$coffer" "${A[@]}" agent stop >/dev/null 2>&1 || true' EXIT
"${C[@]}" "${A[@]}" agent start --ttl 2h >/dev/null
timed cat_warm_agent env -u COFFER_PASSWORD_FILE "${C[@]}" "${A[@]}" cat --as-of "$as_of" "$invoice"
timed log_contract "${C[@]}" log "$contract"
timed log_invoice "${C[@]}" log "$invoice"
timed find_invoice "${C[@]}" find "$(basename "$invoice")"
versions=$("${C[@]}" log --json "$contract" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')

if [ "$s3" = 1 ]; then
    s3_repo=s3://$bucket/bench-history-$days-$files
    if ! "$coffer" --repo "$s3_repo" --s3-endpoint "$endpoint" --no-cache key list >/dev/null 2>&1; then
        say "generating the same history on $s3_repo"
        "$sim" generate --repo "$s3_repo" --s3-endpoint "$endpoint" --password-file "$pw" "${plan[@]}"
    fi
    cold=$work/cache-cold
    runs=$cold_runs PREPARE="rm -rf $cold" timed cat_cold_s3 "$coffer" --repo "$s3_repo" --s3-endpoint "$endpoint" \
        --cache-dir "$cold" cat --as-of "$as_of" "$invoice"
    timed cat_warm_s3 "$coffer" --repo "$s3_repo" --s3-endpoint "$endpoint" \
        --cache-dir "$cold" cat --as-of "$as_of" "$invoice"
    "$coffer" --repo "$s3_repo" --s3-endpoint "$endpoint" --no-cache "${A[@]}" agent start --ttl 2h >/dev/null
    runs=$cold_runs PREPARE="rm -rf $cold" timed cat_cold_s3_agent env -u COFFER_PASSWORD_FILE \
        "$coffer" --repo "$s3_repo" --s3-endpoint "$endpoint" "${A[@]}" \
        --cache-dir "$cold" cat --as-of "$as_of" "$invoice"
fi

# --- 2. restic and coffer backup on the same files, fewer nights --------------
n=$restic_days
tree=$work/tree-$n-$files
rrepo=$work/restic-$n-$files
crepo=$work/coffer-backup-$n-$files
if [ ! -f "$work/.done-$n-$files" ]; then
    rm -rf "$tree" "$rrepo" "$crepo"
    mkdir -p "$tree"
    restic init --repo "$rrepo" >/dev/null
    "$coffer" --repo "$crepo" --cache-dir "$warm-b" init >/dev/null
    for d in $(seq 0 $((n - 1))); do
        if [ "$d" = 0 ]; then
            "$sim" materialise "${plan[@]}" --dir "$tree" --to 0
        else
            "$sim" materialise "${plan[@]}" --dir "$tree" --from $((d - 1)) --to "$d"
        fi
        when=$(python3 -c "
import datetime; print((datetime.date(2016, 6, 1) + datetime.timedelta(days=$d)).isoformat())")
        restic --repo "$rrepo" backup --quiet --host erp1 --time "$when 23:00:00" "$tree/documents" >/dev/null
        "$coffer" --repo "$crepo" --cache-dir "$warm-b" backup --quiet --host erp1 \
            --time "${when}T23:00:00Z" "$tree/documents" >/dev/null
        say "night $((d + 1))/$n backed up by both"
    done
    touch "$work/.done-$n-$files"
fi
small_last=$((n - 1))
small_invoice=$("$sim" list "${plan[@]}" --night "$small_last" | grep '^documents/facture/' | tail -n 50 | head -n 1)
small_as_of=$(python3 -c "
import datetime; print((datetime.date(2016, 6, 1) + datetime.timedelta(days=$small_last)).isoformat())")
rsnap=$(restic --repo "$rrepo" snapshots --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[-1]["short_id"])')
B=("$coffer" --repo "$crepo" --cache-dir "$warm-b")
timed small_cat_coffer "${B[@]}" cat --as-of "$small_as_of" "$small_invoice"
timed small_dump_restic restic --repo "$rrepo" --cache-dir "$work/restic-cache" dump "$rsnap" "$tree/$small_invoice"
timed small_find_coffer "${B[@]}" find "$(basename "$small_invoice")"
timed small_find_restic restic --repo "$rrepo" --cache-dir "$work/restic-cache" find "$(basename "$small_invoice")"
timed small_log_coffer "${B[@]}" log "$contract"
if [ "$s3" = 1 ]; then
    s3_small=bench-history-backup-$n-$files
    s3_restic=bench-history-restic-$n-$files
    if ! "$coffer" --repo "s3://$bucket/$s3_small" --s3-endpoint "$endpoint" --no-cache key list >/dev/null 2>&1; then
        python3 - "$crepo" "$bucket" "$s3_small" "$rrepo" "$s3_restic" "$endpoint" <<'EOF'
import os, sys, boto3
src, bucket, prefix, rsrc, rprefix, endpoint = sys.argv[1:]
s3 = boto3.client("s3", endpoint_url=endpoint)
for local, pre in ((src, prefix), (rsrc, rprefix)):
    for d, _, names in os.walk(local):
        for name in names:
            p = os.path.join(d, name)
            s3.upload_file(p, bucket, pre + "/" + os.path.relpath(p, local))
EOF
    fi
    PREPARE="rm -rf $cold" timed small_cat_coffer_cold "$coffer" --repo "s3://$bucket/$s3_small" \
        --s3-endpoint "$endpoint" --cache-dir "$cold" cat --as-of "$small_as_of" "$small_invoice"
    timed small_dump_restic_cold restic --repo "s3:$endpoint/$bucket/$s3_restic" --no-cache \
        dump "$rsnap" "$tree/$small_invoice"
fi

# --- report ---------------------------------------------------------------------
med() { echo "${R[$1]:-- - -}" | cut -d' ' -f1; }
ratio() { python3 -c "print(f'{$(med "$1") / $(med "$2"):.2f}')" 2>/dev/null || echo -; }
{
    echo "$days nights over $files files (coffer-sim), $(date -u +%Y-%m-%d):"
    echo
    echo "| measure | median s (min-max) |"
    echo "|---|---:|"
    for k in cat_warm cat_warm_agent open_warm cat_cold_s3 cat_cold_s3_agent cat_warm_s3 log_contract log_invoice find_invoice snapshots_warm; do
        [ -n "${R[$k]:-}" ] || continue
        read -r m lo hi <<<"${R[$k]}"
        echo "| $k | $m ($lo-$hi) |"
    done
    echo
    echo "log of $contract: $versions versions over $days nights."
    echo "open_warm (key list: the argon2id key derivation and little else) / cat_warm: $(ratio open_warm cat_warm)"
    echo
    echo "$n nights of the same files backed up by both tools:"
    echo
    echo "| measure | coffer s | restic s | coffer/restic |"
    echo "|---|---:|---:|---:|"
    echo "| one invoice, warm cache (cat --as-of / dump) | $(med small_cat_coffer) | $(med small_dump_restic) | $(ratio small_cat_coffer small_dump_restic) |"
    [ "$s3" = 1 ] && echo "| one invoice, no cache, S3 | $(med small_cat_coffer_cold) | $(med small_dump_restic_cold) | $(ratio small_cat_coffer_cold small_dump_restic_cold) |"
    echo "| find one invoice in all snapshots | $(med small_find_coffer) | $(med small_find_restic) | $(ratio small_find_coffer small_find_restic) |"
} | tee "$work/report.md"
