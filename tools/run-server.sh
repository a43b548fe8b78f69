#!/usr/bin/env bash
# `make run`: the production server (gunicorn, 2 workers) on loopback, with
# the embedded SQLite store under ./.data/ and auth_strategy = noauth.
set -euo pipefail
cd "$(dirname "$0")/.."
port="${1:-${PORT:-9090}}"
mkdir -p .data
conf=.data/freezer-api.conf
cat > "$conf" <<CONF
# Written by 'make run'; edit a copy for anything else.
[DEFAULT]
bind_host = 127.0.0.1
bind_port = $port
auth_strategy = noauth

[api]
workers = 2

[database]
connection = sqlite:///$PWD/.data/freezer-api.sqlite
CONF
cat >&2 <<MSG

  ************************************************************************
  *  WARNING: auth_strategy = noauth. Identity comes from the X-User-Id,  *
  *  X-Project-Id and X-Roles headers, trusted as sent. Development only. *
  ************************************************************************

  freezer-api: http://127.0.0.1:$port/   (config: $conf)
  try:  curl -s http://127.0.0.1:$port/
        curl -s -H 'X-User-Id: me' -H 'X-Project-Id: demo' \\
             http://127.0.0.1:$port/v2/demo/jobs

MSG
exec .venv/bin/freezer-api --config-file "$conf"
