#!/bin/sh
# The nightly job: the ERP database (pg_dump, streamed) and its documents in
# one snapshot, then retention, then a seventh of the packs read back.
# Run by systemd (coffer-backup.service), cron (crontab) or Kubernetes
# (the CronJob in kubernetes/coffer.yaml, which mounts this file).
#
# Settings: the `nightly` profile of /etc/coffer/config.toml; the database from
# libpq's PGHOST, PGPORT, PGUSER, PGPASSWORD; ERP_DATABASE and ERP_DOCUMENTS name
# what is backed up; ERP_TENANT tags the snapshots (the group retention and
# alerts look at). Every step writes --metrics-file (the profile's metrics-file).
set -eu
export COFFER_CONFIG="${COFFER_CONFIG:-/etc/coffer/config.toml}"
export COFFER_PROFILE="${COFFER_PROFILE:-nightly}"
database="${ERP_DATABASE:-erp}"
documents="${ERP_DOCUMENTS:-/var/www/documents}"
tenant="${ERP_TENANT:-main}"

# Exit 3 (saved, but some documents were unreadable) still runs retention:
# the snapshot exists and the metrics say how many files failed.
status=0
coffer pg backup --dbname "$database" --documents "$documents" --exclude '*/temp/*' \
    --skip-if-unchanged --tag "tenant=$tenant" || status=$?
[ "$status" -eq 0 ] || [ "$status" -eq 3 ] || exit "$status"

# The profile's retention tiers decide (tenant=basic: 30 days; others ten years).
coffer forget --tag "tenant=$tenant" --group-by host,tags

# Day of the week 1..7: in a week every pack has been downloaded and verified once.
coffer check --read-data-subset "$(date +%u)/7"
exit "$status"
