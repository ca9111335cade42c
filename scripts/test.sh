#!/usr/bin/env bash
# Set up (creating .venv if missing) and run the whole test suite: lint, types,
# migrations check, every test on SQLite, then the database tests again on
# PostgreSQL (with real Celery workers through Redis) when one is reachable.
#
#   TEST_DATABASE_URL  PostgreSQL for the second run (default: local trust auth)
#   TEST_REDIS_URL     Redis for the worker tests (default: local, db 15)
#   REQUIRE_POSTGRES=1 REQUIRE_REDIS=1 REQUIRE_BROWSER=1   fail instead of skip (CI sets them)
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[test]"

export TEST_DATABASE_URL=${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/investai}
export TEST_REDIS_URL=${TEST_REDIS_URL:-redis://127.0.0.1:6379/15}
# The suite must not pick up a developer's own services by accident.
unset DATABASE_URL REDIS_URL

echo "== ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
echo "== mypy"
.venv/bin/mypy allocation investai benchmarks
echo "== migrations are up to date"
.venv/bin/python manage.py makemigrations --check --dry-run

echo "== tests on SQLite"
# One in-memory database per xdist worker, so the SQLite pass runs on every core. The PostgreSQL
# pass below stays serial: its Celery-worker tests share one Redis queue between test processes.
.venv/bin/pytest -p no:cacheprovider -n auto "$@"

if .venv/bin/python -c "import psycopg, os; psycopg.connect(os.environ['TEST_DATABASE_URL'].replace('/investai', '/postgres'), connect_timeout=3).close()" 2>/dev/null; then
    echo "== database tests on PostgreSQL"
    DATABASE_URL=$TEST_DATABASE_URL .venv/bin/pytest -p no:cacheprovider --create-db \
        -m "not engine and not browser" "$@"
elif [ "${REQUIRE_POSTGRES:-0}" = 1 ]; then
    echo "PostgreSQL is required but not reachable at $TEST_DATABASE_URL" >&2
    exit 1
else
    echo "== PostgreSQL not reachable at $TEST_DATABASE_URL: its run was skipped"
fi
