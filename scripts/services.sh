#!/usr/bin/env bash
# What the test suite needs besides the venv: a PostgreSQL server, Debian's Chromium, a real Airflow.
# Each is started or installed only when missing, so a machine that has them is left as it is.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
apt_updated=""
apt_install() {
    [ -n "$apt_updated" ] || { as_root apt-get update -qq; apt_updated=1; }
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

postgres_up() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }
if ! postgres_up; then
    if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
        echo "installing PostgreSQL"
        apt_install postgresql
    fi
    echo "starting PostgreSQL"
    for version in $(ls /etc/postgresql); do
        as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
    done
    for _ in $(seq 30); do postgres_up && break; sleep 1; done
    postgres_up || { echo "PostgreSQL did not start on 127.0.0.1:5432" >&2; exit 1; }
    # A fresh Debian cluster wants a password over TCP: give postgres the one the tests use.
    as_root su postgres -c "psql -q -c \"ALTER USER postgres PASSWORD 'postgres'\"" || true
fi
if ! psql -h 127.0.0.1 -U postgres -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname='test'" 2>/dev/null | grep -q 1; then
    PGPASSWORD=postgres psql -h 127.0.0.1 -U postgres -d postgres -qc "CREATE DATABASE test" \
        || as_root su postgres -c "psql -q -c 'CREATE DATABASE test'"
fi

if [ ! -x /usr/bin/chromium ]; then
    echo "installing Debian's Chromium for the browser test"
    apt_install chromium
fi

# The Airflow versions the end-to-end tests run against (scripts/test.sh names them), each from its
# committed constraints file; a venv already built from the same files is kept as it is.
for version in ${SLACK_HITL_AIRFLOW_VERSIONS:-3.1.8 3.3.2}; do
    SLACK_HITL_AIRFLOW_VENV="" adapters/airflow/scripts/install_airflow.sh "$version"
done
