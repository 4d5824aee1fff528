#!/usr/bin/env bash
# Regenerates expected.txt: what restic 0.14 keeps for each policy in
# policies.txt over the snapshots in snapshots.txt (restic's own
# snapshot_policy_test.go list; sub-second duplicates moved one second so the
# order is defined by time alone). Needs restic and jq; takes about a minute.
#   bash store/tests/store/retention/make-expected.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export RESTIC_REPOSITORY=$work/repo RESTIC_PASSWORD=x TZ=UTC
restic init -q
mkdir "$work/src" && echo x > "$work/src/f"
while read -r day time tags; do
    args=(--host h --time "$day $time")
    [ -n "${tags:-}" ] && args+=(--tag "$tags")
    (cd "$work" && restic backup -q "${args[@]}" src)
done < "$here/snapshots.txt"
{
    echo "# policy | kept snapshot times, newest first (restic $(restic version | cut -d' ' -f2))"
    while read -r policy; do
        # shellcheck disable=SC2086
        kept=$(restic forget --dry-run --json --group-by '' $policy |
            jq -r '[.[].keep[].time | sub("\\+00:00$"; "") | sub("T"; " ")] | join(",")')
        echo "$policy | $kept"
    done < "$here/policies.txt"
} > "$here/expected.txt"
