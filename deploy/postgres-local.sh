#!/usr/bin/env bash
# Starts the distribution's PostgreSQL cluster on this machine (installing it when missing) and
# makes sure the role and database named below exist. Prints the SQLAlchemy URL to use.
# PostgreSQL refuses to run as root, so the packaged cluster runs as the postgres user.
# Usage: deploy/postgres-local.sh [DATABASE]   (default: hps)
set -euo pipefail
db="${1:-hps}"
here="$(cd "$(dirname "$0")" && pwd)"

if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
  bash "$here/install-prerequisites.sh" --with-postgres >&2
fi
as_postgres() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else sudo -u postgres "$@"; fi; }

version="$(ls /usr/lib/postgresql | sort -V | tail -n 1)"
if ! pg_lsclusters -h 2>/dev/null | awk '{print $1" "$2}' | grep -q "^$version main$"; then
  as_postgres true  # the package created the postgres user
  pg_createcluster "$version" main >&2
fi
port="$(pg_lsclusters -h | awk -v v="$version" '$1==v && $2=="main" {print $3}')"
if ! pg_lsclusters -h | awk -v v="$version" '$1==v && $2=="main" {print $4}' | grep -q online; then
  pg_ctlcluster "$version" main start >&2
fi
for _ in $(seq 1 30); do
  as_postgres psql -p "$port" -qtAc "select 1" >/dev/null 2>&1 && break
  sleep 1
done
as_postgres psql -p "$port" -qtAc "select 1 from pg_roles where rolname='hps'" | grep -q 1 \
  || as_postgres psql -p "$port" -qc "create role hps login password 'hps' createdb" >&2
# The application role the services connect as where migrations run as hps (HPS_DATABASE_OWNER_URL).
as_postgres psql -p "$port" -qtAc "select 1 from pg_roles where rolname='hps_app'" | grep -q 1 \
  || as_postgres psql -p "$port" -qc "create role hps_app login password 'hps_app'" >&2
# hps drops test databases WITH (FORCE), ending the application role's sessions too.
as_postgres psql -p "$port" -qc "grant pg_signal_backend to hps" >&2
as_postgres psql -p "$port" -qtAc "select 1 from pg_database where datname='$db'" | grep -q 1 \
  || as_postgres psql -p "$port" -qc "create database \"$db\" owner hps" >&2
echo "postgresql+psycopg://hps:hps@localhost:$port/$db"
