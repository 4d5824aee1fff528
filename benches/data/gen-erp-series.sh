#!/usr/bin/env bash
# Builds a series of nightly dumps of a Dolibarr-like ERP database, the input of
# coffer's deduplication and comparison benchmarks.
#
#   benches/data/gen-erp-series.sh OUTDIR [--scale tiny|small|medium|large] [--days N]
#
# Writes OUTDIR/day-NNN.dump (pg_dump -Fc -Z0: the custom format, uncompressed,
# which is what to feed a deduplicating store) and OUTDIR/day-NNN.sql (plain), for
# N days (default 7), then OUTDIR/series.done. Dump sizes per scale, day 1:
#   tiny ~0.2 MB (fixtures/sample), small ~2.5 MB, medium ~230 MB, large ~1.1 GB.
#
# Day 1..N each apply a business day (benches/data/erp-day.sql) to five years of
# history (benches/data/erp-init.sql): appended invoices, lines, payments and
# events; ~0.5% scattered UPDATEs of old rows, which move those tuples to the end
# of the heap; a few DELETEs; a weekly VACUUM that lets later updates fill holes.
# Deterministic: same data for the same scale and day on the same PostgreSQL
# major version (the -Fc header still carries the dump's creation time).
#
# PostgreSQL: uses the server in PGHOST/PGPORT when PGHOST is set (e.g. after
# `eval "$(bash .ci/services)"`), in database coffer_bench_erp, which it drops
# and recreates; otherwise starts a throwaway PostgreSQL 15 cluster of its own on
# 127.0.0.1:${COFFER_GEN_PG_PORT:-54339} with autovacuum off, and removes it at exit.
# With a shared server, autovacuum may run, though the series stays under its
# default thresholds for the days anyone generates.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
pg_bindir=/usr/lib/postgresql/15/bin

usage() { sed -n '2,7p' "$0" >&2; exit 2; }
say() { echo "gen-erp-series: $*" >&2; }
die() { say "error: $*"; exit 1; }

outdir=
scale_name=small
days=7
while [ $# -gt 0 ]; do
    case "$1" in
        --scale) scale_name=${2:?--scale needs a value}; shift 2 ;;
        --scale=*) scale_name=${1#*=}; shift ;;
        --days) days=${2:?--days needs a value}; shift 2 ;;
        --days=*) days=${1#*=}; shift ;;
        -h|--help) usage ;;
        -*) say "unknown option $1"; usage ;;
        *) [ -z "$outdir" ] || usage; outdir=$1; shift ;;
    esac
done
[ -n "$outdir" ] || usage
[[ "$days" =~ ^[1-9][0-9]*$ ]] || die "--days must be a positive integer, not '$days'"

# 1.0 of scale is ~1,500 invoices over five years (~5.4 MB of dump).
case "$scale_name" in
    tiny) scale=0.03 ;;
    small) scale=0.5 ;;
    medium) scale=42 ;;
    large) scale=200 ;;
    *) die "unknown --scale '$scale_name' (tiny, small, medium, large)" ;;
esac

[ -x "$pg_bindir/psql" ] || die "PostgreSQL 15 not found in $pg_bindir (run: bash .ci/install)"
export PATH=$pg_bindir:$PATH

# --- the server -------------------------------------------------------------
own_dir=
cleanup() {
    if [ -n "$own_dir" ]; then
        if [ "$(id -u)" -eq 0 ]; then
            runuser -u postgres -- pg_ctl -D "$own_dir/pg" -m immediate stop >/dev/null 2>&1 || true
        else
            pg_ctl -D "$own_dir/pg" -m immediate stop >/dev/null 2>&1 || true
        fi
        rm -rf "$own_dir"
    fi
}
trap cleanup EXIT

if [ -n "${PGHOST:-}" ]; then
    pg_isready -q -t 5 || die "PGHOST=$PGHOST PGPORT=${PGPORT:-5432} does not accept connections"
    say "using PostgreSQL at $PGHOST:${PGPORT:-5432}"
else
    port=${COFFER_GEN_PG_PORT:-54339}
    if pg_isready -q -h 127.0.0.1 -p "$port" -t 2; then
        die "127.0.0.1:$port is already in use; set COFFER_GEN_PG_PORT or PGHOST"
    fi
    own_dir=$(mktemp -d "${TMPDIR:-/tmp}/coffer-gen-erp.XXXXXX")
    chmod 755 "$own_dir"
    mkdir "$own_dir/pg"
    if [ "$(id -u)" -eq 0 ]; then
        # PostgreSQL refuses to run as root.
        chown postgres "$own_dir/pg"
        as_pg() { runuser -u postgres -- "$@"; }
    else
        as_pg() { "$@"; }
    fi
    as_pg initdb -D "$own_dir/pg" -U postgres --auth=trust --encoding=UTF8 --no-locale \
        >"$own_dir/initdb.log" 2>&1 || { cat "$own_dir/initdb.log" >&2; die "initdb failed"; }
    touch "$own_dir/postgres.log"
    [ "$(id -u)" -ne 0 ] || chown postgres "$own_dir/postgres.log"
    pg_opts="-c listen_addresses=127.0.0.1 -p $port -c unix_socket_directories=$own_dir/pg"
    pg_opts+=" -c autovacuum=off -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    pg_opts+=" -c shared_buffers=512MB -c max_wal_size=4GB -c work_mem=64MB"
    pg_opts+=" -c maintenance_work_mem=512MB"
    as_pg pg_ctl -D "$own_dir/pg" -l "$own_dir/postgres.log" -w -t 60 -o "$pg_opts" start </dev/null >/dev/null 2>&1 ||
        { tail -n 20 "$own_dir/postgres.log" >&2; die "could not start PostgreSQL"; }
    export PGHOST=127.0.0.1 PGPORT=$port PGUSER=postgres
    say "started a throwaway PostgreSQL on 127.0.0.1:$port"
fi

db=coffer_bench_erp
psql_db=(psql -X -q -o /dev/null -v ON_ERROR_STOP=1 -d "$db")
psql -X -q -v ON_ERROR_STOP=1 -d postgres -c "DROP DATABASE IF EXISTS $db" \
    -c "CREATE DATABASE $db" >/dev/null 2>&1 ||
    die "could not (re)create database $db (needs CREATEDB)"

# --- the series -------------------------------------------------------------
mkdir -p "$outdir"
rm -f "$outdir"/day-*.dump "$outdir"/day-*.sql "$outdir/series.done"

started=$SECONDS
say "building five years of history (scale $scale_name = $scale)"
"${psql_db[@]}" -v scale="$scale" -f "$here/erp-init.sql"
say "history built in $((SECONDS - started)) s"

printf '%-8s %12s %12s\n' day dump_bytes sql_bytes
for ((d = 1; d <= days; d++)); do
    "${psql_db[@]}" -v day="$d" -f "$here/erp-day.sql"
    # Weekly maintenance, as autovacuum would eventually do: freed space is then
    # reused by later UPDATEs and INSERTs, in the middle of the heap.
    if ((d % 7 == 0)); then
        "${psql_db[@]}" -c 'VACUUM ANALYZE'
    fi
    name=$(printf 'day-%03d' "$d")
    # -N gen: the generator's helpers are not part of the ERP.
    pg_dump -Fc -Z0 -N gen -d "$db" -f "$outdir/$name.dump"
    pg_dump -N gen -d "$db" -f "$outdir/$name.sql"
    printf '%-8s %12d %12d\n' "$name" "$(stat -c %s "$outdir/$name.dump")" \
        "$(stat -c %s "$outdir/$name.sql")"
done
echo "scale=$scale_name days=$days" >"$outdir/series.done"
say "wrote $days days to $outdir in $((SECONDS - started)) s"
