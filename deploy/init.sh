#!/bin/sh
# Once, before the first night: create the repository in the bucket.
# Bucket credentials come from the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY).
set -eu
export COFFER_CONFIG="${COFFER_CONFIG:-/etc/coffer/config.toml}"
export COFFER_PROFILE="${COFFER_PROFILE:-nightly}"

coffer init
coffer config
