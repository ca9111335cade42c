#!/usr/bin/env bash
# Set up and run the whole app on the embedded default: SQLite and Celery on
# kombu's filesystem transport, so nothing but Python 3.11 is needed.
# Creates .venv, installs, migrates, loads the demo data, starts a Celery
# worker with beat (the periodic scheduler) and serves http://127.0.0.1:8000.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e .

.venv/bin/python manage.py migrate --no-input -v 0
.venv/bin/python manage.py seed_demo

mkdir -p var
.venv/bin/celery -A investai worker --beat --pool=solo --loglevel=info \
    --schedule var/celerybeat-schedule >var/celery.log 2>&1 &
worker=$!
trap 'kill "$worker" 2>/dev/null; wait "$worker" 2>/dev/null || true' EXIT INT TERM

address=${ADDRESS:-127.0.0.1:8000}
cat <<TXT

  InvestAI compute access is starting at  http://$address/
  Log in with one of the demo accounts above (password: investai-demo).
  API docs: http://$address/api/v1/docs/   Health: http://$address/healthz
  Celery worker + beat log: var/celery.log        Stop with Ctrl-C.

TXT
.venv/bin/python manage.py runserver "$address"
