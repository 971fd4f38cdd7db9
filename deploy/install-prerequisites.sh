#!/usr/bin/env bash
# Installs the system packages the platform needs when they are missing: Java 17+ and Maven
# (the local Kafka broker), and on request PostgreSQL (the ledger's production engine, used by
# the tests), Chromium (the browser tests), poppler's pdftotext (the statement PDF's test) and wrk
# (the HTTP load of `make bench`).
# Usage: install-prerequisites.sh [--with-postgres] [--with-browser] [--with-pdf] [--with-wrk]
# Uses Debian/Ubuntu packages; on other systems install them yourself and this does nothing.
set -euo pipefail

missing=()
command -v java >/dev/null 2>&1 || missing+=(openjdk-17-jre-headless)
command -v mvn >/dev/null 2>&1 || missing+=(maven)
for option in "$@"; do
  case "$option" in
    --with-postgres) ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || missing+=(postgresql) ;;
    --with-browser) command -v chromium >/dev/null 2>&1 || missing+=(chromium) ;;
    --with-pdf) command -v pdftotext >/dev/null 2>&1 || missing+=(poppler-utils) ;;
    --with-wrk) command -v wrk >/dev/null 2>&1 || missing+=(wrk) ;;
    *) echo "unknown option $option" >&2; exit 2 ;;
  esac
done
[ ${#missing[@]} -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
  echo "Please install: ${missing[*]}" >&2
  exit 1
fi
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
echo "Installing ${missing[*]} from the distribution's packages"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
