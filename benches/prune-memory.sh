#!/usr/bin/env bash
# Does prune's memory stay flat as the history grows? `coffer forget
# --keep-daily 30 --keep-monthly 12 --keep-yearly 10 --prune --grace 0s` on
# coffer-sim repositories of 365, 1,825 and 3,650 nights (3,000 documents),
# and of 3,650 nights over 30,000 documents (ten times the index entries):
# wall and CPU time, peak RSS, and the size of index/ before (about 45 bytes
# an entry).
#
# Each run is made twice on a fresh copy: with the password (the whole
# command, argon2id's 64 MiB included) and with the key held by `coffer
# agent` (no key derivation in the process: what prune itself holds).
#
#   bash benches/prune-memory.sh            # repositories cached in target/prune-memory
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
coffer="${COFFER_BIN:-$root/target/release/coffer}"
sim="${COFFER_SIM_BIN:-$root/target/release/coffer-sim}"
[ -x "$coffer" ] && [ -x "$sim" ] || cargo build --release --manifest-path "$root/Cargo.toml" --bins
cache="${PRUNE_MEMORY_DIR:-$root/target/prune-memory}"
mkdir -p "$cache"
work=$(mktemp -d "${TMPDIR:-/tmp}/coffer-prune-memory.XXXXXX")
sock_dir=$(mktemp -d "${TMPDIR:-/tmp}/coffer-prune-agent.XXXXXX")
chmod 700 "$sock_dir"
export COFFER_AGENT_SOCK="$sock_dir/agent.sock"
cleanup() {
    "$coffer" agent stop >/dev/null 2>&1 || true
    rm -rf "$work" "$sock_dir"
}
trap cleanup EXIT
printf 'bench\n' >"$work/password"
policy=(--keep-daily 30 --keep-monthly 12 --keep-yearly 10)

printf '| nights, documents | index/ | with | time | CPU | peak RSS |\n|---|---:|---|---:|---:|---:|\n'
for size in 365:3000 1825:3000 3650:3000 3650:30000; do
    days=${size%%:*} files=${size##*:}
    repo="$cache/sim-$days-$files"
    if [ ! -f "$repo/config" ]; then
        rm -rf "$repo"
        "$sim" generate --repo "$repo" --password-file "$work/password" --days "$days" --files "$files" >&2
    fi
    index=$(du -sb "$repo/index" | awk '{ printf "%.1f MB", $1 / 1e6 }')
    for with in password agent; do
        rm -rf "$work/repo" "$work/cache"
        cp -a "$repo" "$work/repo"
        # A warm cache, as a nightly prune finds it.
        COFFER_PASSWORD=bench "$coffer" --repo "$work/repo" --cache-dir "$work/cache" snapshots -q >/dev/null
        env_pw=(env COFFER_PASSWORD=bench)
        if [ "$with" = agent ]; then
            COFFER_PASSWORD=bench "$coffer" --repo "$work/repo" agent start --ttl 10m >/dev/null
            env_pw=(env -u COFFER_PASSWORD)
        fi
        "${env_pw[@]}" /usr/bin/time -f "%e %U %S %M" -o "$work/time" \
            "$coffer" --repo "$work/repo" --cache-dir "$work/cache" forget "${policy[@]}" --prune --grace 0s -q >/dev/null
        [ "$with" = agent ] && "$coffer" agent stop >/dev/null
        read -r wall user sys rss <"$work/time"
        awk -v n="$days" -v f="$files" -v e="$index" -v w="$with" -v t="$wall" -v u="$user" -v s="$sys" -v r="$rss" \
            'BEGIN { printf "| %s, %s | %s | %s | %.2f s | %.2f s | %.0f MiB |\n", n, f, e, w, t, u + s, r / 1024 }'
    done
done
