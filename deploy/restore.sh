#!/bin/sh
# The restore counterpart of nightly.sh: a snapshot's dump into a NEW database
# (refused if it exists) and its documents into a folder, side by side with
# production. `pg restore` compares the restored row counts with the ones
# recorded at backup time and fails if they differ.
#
# RESTORE_SNAPSHOT: `latest` (default) or an id from `coffer snapshots`;
# RESTORE_DATABASE: the new database (default erp_restored);
# RESTORE_DOCUMENTS: the folder for the documents (default /var/tmp/erp-restored).
set -eu
export COFFER_CONFIG="${COFFER_CONFIG:-/etc/coffer/config.toml}"
export COFFER_PROFILE="${COFFER_PROFILE:-nightly}"
snapshot="${RESTORE_SNAPSHOT:-latest}"
database="${RESTORE_DATABASE:-erp_restored}"
target="${RESTORE_DOCUMENTS:-/var/tmp/erp-restored}"
tenant="${ERP_TENANT:-main}"

coffer snapshots --tag "tenant=$tenant"
coffer pg restore "$snapshot" --tag "tenant=$tenant" --into "$database" --documents-target "$target"
