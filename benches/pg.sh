#!/usr/bin/env bash
# `coffer pg` on a Dolibarr-like database (benches/data/erp-init.sql: third
# parties, products, invoices, lines, payments, events, built with
# generate_series), on the PostgreSQL of PGHOST/PGPORT/PGUSER
# (`eval "$(bash .ci/services)"`).
#
#   bash benches/pg.sh formats [SCALE]   # default 42: a ~230 MB dump
#   bash benches/pg.sh speed [SCALE]     # default 200: a ~1.1 GB dump
#
# formats: which pg_dump format to store. The same database is dumped on two
# nights, with a business day between (benches/data/erp-day.sql: new invoices,
# lines and payments, ~0.5% of old rows updated, which moves those tuples to the
# end of the heap, a few deletes), as `-Fc -Z0`, plain SQL and default `-Fc`
# (gzip), each into its own repository through `coffer backup
# --stdin-from-command`; prints the dump sizes and the bytes each night adds to
# each repository (du -sb of the repository folder, index and snapshots included).
#
# speed: `coffer pg backup` (first night) against `pg_dump -Fc -Z0 > /dev/null`
# run just before and just after it (the baseline is the faster of the two);
# the repository's growth after a business day; `coffer pg restore --into` (which
# also counts every table's rows) against `pg_restore` from a local file of the
# same night's dump into a fresh database. Prints ratios.
#
# Everything it creates (databases coffer_bench_pg_*, a temporary folder) is
# removed at exit.
set -euo pipefail
mode=${1:?usage: bash benches/pg.sh formats|speed [SCALE]}
root=$(cd "$(dirname "$0")/.." && pwd)
coffer="${COFFER_BIN:-$root/target/release/coffer}"
[ -x "$coffer" ] || cargo build --release --manifest-path "$root/Cargo.toml"
[ -n "${PGHOST:-}" ] || { echo 'set PGHOST etc.: eval "$(bash .ci/services)"' >&2; exit 2; }
case "$mode" in
    formats) scale=${2:-42} ;;
    speed) scale=${2:-200} ;;
    *) echo "unknown mode $mode (formats, speed)" >&2; exit 2 ;;
esac

work=$(mktemp -d "${TMPDIR:-/tmp}/coffer-pg-bench.XXXXXX")
db=coffer_bench_pg_$$
dbs=("$db")
cleanup() {
    for d in "${dbs[@]}"; do
        psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $d WITH (FORCE)" >/dev/null 2>&1 || true
    done
    rm -rf "$work"
}
trap cleanup EXIT
export COFFER_PASSWORD=bench COFFER_CACHE_DIR="$work/cache"
psql_q=(psql -X -q -o /dev/null -v ON_ERROR_STOP=1)

now() { echo "$EPOCHREALTIME"; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
bytes() { du -sb "$1" | cut -f1; }
mb() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1e6 }'; }

t=$(now)
"${psql_q[@]}" -d postgres -c "CREATE DATABASE $db TEMPLATE template0"
"${psql_q[@]}" -d "$db" -v scale="$scale" -f "$root/benches/data/erp-init.sql"
echo "database $db (scale $scale) built in $(since "$t") s; $(nproc) cores" >&2

if [ "$mode" = formats ]; then
    declare -A argv=([custom-Z0]="-Fc -Z0" [plain]="-Fp" [custom-gzip]="-Fc")
    order=(custom-Z0 plain custom-gzip)
    declare -A size1 size2 first second
    for f in "${order[@]}"; do
        "$coffer" --repo "$work/$f" init -q >/dev/null
    done
    for night in 1 2; do
        if [ "$night" = 2 ]; then
            "${psql_q[@]}" -d "$db" -v day=1 -f "$root/benches/data/erp-day.sql"
        fi
        for f in "${order[@]}"; do
            before=$(bytes "$work/$f")
            # shellcheck disable=SC2086 # the format flags are words
            size=$("$coffer" --repo "$work/$f" --json backup --stdin-from-command \
                --stdin-name db/erp.dump -- pg_dump ${argv[$f]} -d "$db" |
                python3 -c 'import json, sys; print(json.load(sys.stdin)["bytes_read"])')
            added=$(($(bytes "$work/$f") - before))
            if [ "$night" = 1 ]; then size1[$f]=$size first[$f]=$added; else size2[$f]=$size second[$f]=$added; fi
        done
    done
    printf '| format | dump | first night adds | second night adds | second night / dump |\n|---|---:|---:|---:|---:|\n'
    for f in "${order[@]}"; do
        printf '| `pg_dump %s` | %s MB | %s MB | %s MB | %s%% |\n' "${argv[$f]}" \
            "$(mb "${size2[$f]}")" "$(mb "${first[$f]}")" "$(mb "${second[$f]}")" \
            "$(awk -v a="${second[$f]}" -v b="${size2[$f]}" 'BEGIN { printf "%.1f", 100 * a / b }')"
    done
    exit 0
fi

# --- speed ------------------------------------------------------------------
repo=$work/repo
"$coffer" --repo "$repo" init -q >/dev/null
dump_to_null() {
    local t
    t=$(now)
    pg_dump -Fc -Z0 -d "$db" >/dev/null
    since "$t"
}
d1=$(dump_to_null)
t=$(now)
"$coffer" --repo "$repo" pg backup -q --dbname "$db" >/dev/null
backup1=$(since "$t")
d2=$(dump_to_null)
dump_s=$(awk -v a="$d1" -v b="$d2" 'BEGIN { print (a < b ? a : b) }')
repo1=$(bytes "$repo")

"${psql_q[@]}" -d "$db" -v day=1 -f "$root/benches/data/erp-day.sql"
t=$(now)
"$coffer" --repo "$repo" pg backup -q --dbname "$db" >/dev/null
backup2=$(since "$t")
growth=$(($(bytes "$repo") - repo1))

t=$(now)
pg_dump -Fc -Z0 -d "$db" -f "$work/night2.dump"
dump_file_s=$(since "$t")
dump_bytes=$(stat -c %s "$work/night2.dump")

dbs+=("${db}_coffer" "${db}_pgrestore")
t=$(now)
"$coffer" --repo "$repo" pg restore -q latest --into "${db}_coffer" --dbname "$db" >/dev/null
restore_coffer=$(since "$t")
t=$(now)
"${psql_q[@]}" -d postgres -c "CREATE DATABASE ${db}_pgrestore TEMPLATE template0"
pg_restore --exit-on-error -d "${db}_pgrestore" "$work/night2.dump"
restore_pg=$(since "$t")

echo "dump (-Fc -Z0): $(mb "$dump_bytes") MB; repository after night 1: $(mb "$repo1") MB"
printf '| measure | coffer | baseline (same run) | coffer/baseline |\n|---|---:|---:|---:|\n'
printf '| first backup | `pg backup` %s s | `pg_dump -Fc -Z0 > /dev/null` %s s (%s, %s) | %s |\n' \
    "$backup1" "$dump_s" "$d1" "$d2" "$(ratio "$backup1" "$dump_s")"
printf '| second night, after a business day | `pg backup` %s s | | %s |\n' \
    "$backup2" "$(ratio "$backup2" "$dump_s")"
printf '| repository growth, second night | %s MB | dump %s MB | %s |\n' \
    "$(mb "$growth")" "$(mb "$dump_bytes")" "$(ratio "$growth" "$dump_bytes")"
printf '| restore into a new database | `pg restore --into` %s s | `pg_restore` from a local file %s s | %s |\n' \
    "$restore_coffer" "$restore_pg" "$(ratio "$restore_coffer" "$restore_pg")"
echo "(pg_dump -Fc -Z0 to a local file: $dump_file_s s)"
