# syntax=docker/dockerfile:1
# InvestAI compute access: one image for every process (web, worker, beat,
# migrate); docker-compose.yml picks the command. See docs/deployment.md.
FROM python:3.11-slim

# settings.py finds templates/, static/ and locale/ next to the investai
# package, so PYTHONPATH makes the source tree in /app win over the copy that
# `pip install .` puts in site-packages.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONPATH=/app

WORKDIR /app

# The dependencies first, in their own layer: it is rebuilt only when
# pyproject.toml changes, not on every change to the code.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

COPY . .
RUN pip install --no-deps . \
    && rm -rf build ./*.egg-info

# Static files are collected into the image (whitenoise serves them with a
# manifest). The key below is a throwaway that exists for this step only.
RUN DEBUG=0 SECRET_KEY=collectstatic-at-build-time-only-not-a-secret \
    INVESTAI_VAR_DIR=/tmp/collectstatic-var \
    python manage.py collectstatic --no-input -v 0 \
    && rm -rf /tmp/collectstatic-var

# Run as an unprivileged user, by number so a runtime can verify it is not
# root. It owns only var/ (SQLite and the filesystem queue of the embedded
# mode, beat's schedule file); code and static files stay read-only to it.
# Its home is writable for tools that keep state there (gunicorn's control
# socket lives in ~/.gunicorn).
RUN groupadd --system --gid 10001 investai \
    && useradd --system --uid 10001 --gid investai --create-home --home-dir /home/investai \
        --shell /usr/sbin/nologin investai \
    && mkdir -p /app/var \
    && chown investai:investai /app/var
USER 10001:10001

# Production defaults: DEBUG stays off unless explicitly turned on, so the
# image refuses to start without a real SECRET_KEY. gunicorn reads its number
# of worker processes from WEB_CONCURRENCY (and any extra flags from
# GUNICORN_CMD_ARGS).
ENV DEBUG=0 \
    HOME=/home/investai \
    WEB_CONCURRENCY=3

EXPOSE 8000

# /healthz answers 200 only when the database, the cache and the broker all
# work. The Host header is the first of ALLOWED_HOSTS so Django accepts it;
# SECURE_REDIRECT_EXEMPT keeps the plain-HTTP probe from being sent to https.
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, sys, urllib.request; hosts = [h.strip().lstrip('.') for h in os.environ.get('ALLOWED_HOSTS', '').split(',') if h.strip() and h.strip() != '*']; req = urllib.request.Request('http://127.0.0.1:8000/healthz', headers={'Host': (hosts or ['localhost'])[0]}); sys.exit(0 if urllib.request.urlopen(req, timeout=8).status == 200 else 1)"]

CMD ["gunicorn", "investai.wsgi:application", "--bind", "0.0.0.0:8000", "--access-logfile", "-"]
