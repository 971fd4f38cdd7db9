#!/usr/bin/env bash
# The application role the services connect as (the postgres image runs this once, on a new
# volume). `hps migrate`, as the owner, grants it what it may do.
set -euo pipefail
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v password="${HPS_APP_PASSWORD:-hps_app}" <<'SQL'
CREATE ROLE hps_app LOGIN PASSWORD :'password';
SQL
