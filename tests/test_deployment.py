"""The deployment artefacts hold together: docker-compose.yml, the Dockerfile,
the production settings and the operator guide.

No Docker engine is needed: the files are parsed, and ``manage.py check`` runs
in a subprocess with a production-like environment (never this process's own,
so a developer's DATABASE_URL or REDIS_URL cannot leak in). No database.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, Any] = COMPOSE["services"]
APP_SERVICES = ("web", "worker", "beat")
INFRA_SERVICES = ("postgres", "redis")

# Every environment variable investai/settings.py reads.
_READ = re.compile(
    r"""(?:os\.environ\.get|os\.getenv|env_bool|env_list)\(\s*["'](\w+)["']|os\.environ\[["'](\w+)["']\]"""
)
SETTINGS_VARS = frozenset(a or b for a, b in _READ.findall((ROOT / "investai" / "settings.py").read_text()))
# Read by gunicorn itself, not by settings.py.
GUNICORN_VARS = frozenset({"WEB_CONCURRENCY"})

_VARIABLE = re.compile(r"\$\$|\$\{(\w+)(?:(:?[-?])([^}]*))?\}|\$(\w+)")


class MissingVariable(Exception):
    pass


def interpolate(value: Any, given: dict[str, str]) -> str:
    """Compose's variable substitution: ``${X}``, ``${X:-default}``, ``${X:?error}``, ``$$``."""

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1) or match.group(4)
        operator, argument = match.group(2), match.group(3) or ""
        current = given.get(name)
        unset = current is None or (current == "" and operator is not None and operator.startswith(":"))
        if not unset:
            return str(current)
        if operator in (":-", "-"):
            return argument
        if operator in (":?", "?"):
            raise MissingVariable(f"{name}: {argument}")
        return ""

    return _VARIABLE.sub(replace, str(value))


def app_environment(service: str, given: dict[str, str] | None = None) -> dict[str, str]:
    environment = SERVICES[service]["environment"]
    assert isinstance(environment, dict), f"{service}: write environment as a mapping"
    given = {"SECRET_KEY": "x" * 50} if given is None else given
    return {key: interpolate(value, given) for key, value in environment.items()}


def depends_on(service: str) -> dict[str, Any]:
    dependencies = SERVICES[service].get("depends_on", {})
    assert isinstance(dependencies, dict), f"{service}: depends_on needs the long form with conditions"
    return dependencies


def one_shot_services() -> set[str]:
    """Jobs that others wait for to *complete*, such as ``migrate``."""
    return {
        name
        for service in SERVICES
        for name, spec in depends_on(service).items()
        if spec.get("condition") == "service_completed_successfully"
    }


# --- docker-compose.yml ---------------------------------------------------


def test_compose_has_the_five_services() -> None:
    assert set(APP_SERVICES + INFRA_SERVICES) <= set(SERVICES)


def test_app_services_run_one_image_built_from_this_repository() -> None:
    builds = {
        name: (json.dumps(spec.get("build"), sort_keys=True), spec.get("image")) for name, spec in SERVICES.items()
    }
    web_build = builds["web"]
    assert web_build[0] != "null", "web must be built from the Dockerfile"
    for name in (*APP_SERVICES, *one_shot_services()):
        assert builds[name] == web_build, f"{name} must run the very image web runs"


def test_app_services_reach_postgres_and_redis_by_service_name() -> None:
    postgres = {key: interpolate(value, {}) for key, value in SERVICES["postgres"]["environment"].items()}
    for name in (*APP_SERVICES, *one_shot_services()):
        environment = app_environment(name)
        database = urlsplit(environment["DATABASE_URL"])
        assert database.scheme in {"postgres", "postgresql"}, name
        assert (database.hostname, database.port) == ("postgres", 5432), name
        assert database.username == postgres["POSTGRES_USER"], name
        assert database.password == postgres["POSTGRES_PASSWORD"], name
        assert database.path == "/" + postgres["POSTGRES_DB"], name
        redis = urlsplit(environment["REDIS_URL"])
        assert redis.scheme == "redis", name
        assert (redis.hostname, redis.port or 6379) == ("redis", 6379), name


def test_the_postgres_password_is_the_same_on_both_ends_when_overridden() -> None:
    given = {"SECRET_KEY": "x" * 50, "POSTGRES_PASSWORD": "s3cret-and-url-safe"}
    password = interpolate(SERVICES["postgres"]["environment"]["POSTGRES_PASSWORD"], given)
    for name in APP_SERVICES:
        assert urlsplit(app_environment(name, given)["DATABASE_URL"]).password == password == "s3cret-and-url-safe"


def test_app_services_wait_for_healthy_postgres_and_redis() -> None:
    for name in (*APP_SERVICES, *one_shot_services()):
        for dependency in INFRA_SERVICES:
            assert depends_on(name).get(dependency, {}).get("condition") == "service_healthy", (name, dependency)


def test_migrations_run_once_before_the_app_starts() -> None:
    jobs = one_shot_services()
    assert jobs, "a one-shot migrate service that web depends on"
    (job,) = jobs
    assert "migrate" in " ".join(SERVICES[job]["command"])
    # A finished job that restarts would migrate in a loop.
    assert str(SERVICES[job].get("restart", "no")) == "no"
    for name in APP_SERVICES:
        assert depends_on(name).get(job) == {"condition": "service_completed_successfully"}, name


def test_app_services_run_in_production_mode() -> None:
    for name in (*APP_SERVICES, *one_shot_services()):
        environment = app_environment(name)
        assert environment["DEBUG"].lower() in {"0", "false", "no", "off"}, name
        assert {"ALLOWED_HOSTS", "BEHIND_TLS_PROXY", "CSRF_TRUSTED_ORIGINS"} <= set(environment), name
        # No default key: compose refuses to start without one.
        with pytest.raises(MissingVariable, match="SECRET_KEY"):
            app_environment(name, given={})
        assert app_environment(name, given={"SECRET_KEY": "operator-key" * 5})["SECRET_KEY"] == "operator-key" * 5


def test_app_services_pass_only_variables_the_app_reads() -> None:
    for name in APP_SERVICES:
        unknown = set(SERVICES[name]["environment"]) - SETTINGS_VARS - GUNICORN_VARS
        assert not unknown, f"{name} sets variables nothing reads (typo?): {sorted(unknown)}"


def test_web_runs_gunicorn_and_worker_and_beat_run_celery() -> None:
    web_command = SERVICES["web"].get("command")
    assert web_command is None or "gunicorn" in " ".join(web_command), "web runs the image's gunicorn CMD"
    worker = " ".join(SERVICES["worker"]["command"])
    assert re.search(r"^celery -A investai worker .*--concurrency", worker), worker
    beat = " ".join(SERVICES["beat"]["command"])
    assert beat.startswith("celery -A investai beat"), beat
    # beat runs as an unprivileged user: its schedule file must be in var/, which that user owns.
    assert "--schedule /app/var/" in beat


def test_every_long_running_service_has_a_healthcheck() -> None:
    jobs = one_shot_services()
    for name, spec in SERVICES.items():
        healthcheck = spec.get("healthcheck", {})
        if name in jobs:
            # A job is judged by its exit code; the image's HTTP probe must
            # not run against it (it would only ever report unhealthy).
            assert healthcheck.get("disable") is True, name
            continue
        assert not healthcheck.get("disable"), name
        assert healthcheck.get("test"), f"{name} needs a healthcheck"
        assert healthcheck["test"][0] in {"CMD", "CMD-SHELL"}, name


def test_healthchecks_probe_the_right_thing() -> None:
    def probe(name: str) -> str:
        return " ".join(SERVICES[name]["healthcheck"]["test"][1:])

    assert "pg_isready" in probe("postgres")
    assert "redis-cli ping" in probe("redis")
    assert "/healthz" in probe("web")
    # $$ so the container's shell expands HOSTNAME, not compose on the host.
    assert "inspect ping -d celery@$$HOSTNAME" in probe("worker")
    assert "inspect ping -d celerybeat@$$HOSTNAME" in probe("beat")
    assert "--enable-remote-control" in SERVICES["beat"]["command"], "beat answers inspect ping only with it"


def test_beat_can_answer_inspect_ping_with_the_installed_celery() -> None:
    from celery import beat

    assert hasattr(beat, "BeatPidbox"), "celery >= 5.7 is needed for beat's --enable-remote-control"


def test_every_periodic_task_beat_sends_is_one_the_worker_knows() -> None:
    # A misspelt name in the schedule is sent every interval and dropped by the worker as unregistered.
    from django.conf import settings

    from investai.celery import app

    app.loader.import_default_modules()
    scheduled = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert "allocation.tasks.notifications_requeue" in scheduled
    assert scheduled <= set(app.tasks), scheduled - set(app.tasks)


def test_worker_can_scale() -> None:
    worker = SERVICES["worker"]
    assert "container_name" not in worker
    assert not worker.get("ports")
    assert "deploy" not in worker or "replicas" not in worker["deploy"]


def test_postgres_and_redis_keep_their_data_in_named_volumes() -> None:
    declared = set(COMPOSE.get("volumes") or {})
    mounts = {
        name: [str(volume).split(":")[:2] for volume in SERVICES[name].get("volumes", [])] for name in INFRA_SERVICES
    }
    assert ["postgres-data", "/var/lib/postgresql/data"] in mounts["postgres"]
    assert "postgres-data" in declared
    for name, volumes in mounts.items():
        for source, _target in volumes:
            assert source in declared, f"{name} mounts {source}, which is not a named volume"


def test_postgres_and_redis_are_not_published_on_the_host() -> None:
    for name in INFRA_SERVICES:
        assert not SERVICES[name].get("ports"), f"{name} would be reachable from outside without auth"


def test_healthchecks_do_not_use_host_side_variables() -> None:
    # A lone $VAR in a healthcheck is replaced by compose on the host.
    for name, spec in SERVICES.items():
        for part in spec.get("healthcheck", {}).get("test", []):
            assert not re.search(r"(?<!\$)\$(?!\$)(?!\{)", part.replace("$$", "")), (name, part)


# --- Dockerfile -------------------------------------------------------------


def dockerfile_instructions() -> list[tuple[str, str]]:
    lines: list[str] = []
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        if line.lstrip().startswith("#"):
            continue
        lines.append(line)
    logical = re.sub(r"\\\n\s*", " ", "\n".join(lines))
    instructions = []
    for line in logical.splitlines():
        if line.strip():
            keyword, _, arguments = line.strip().partition(" ")
            instructions.append((keyword.upper(), arguments.strip()))
    return instructions


def test_dockerfile_builds_on_python_311_slim_and_installs_the_project() -> None:
    instructions = dockerfile_instructions()
    assert instructions[0] == ("FROM", "python:3.11-slim")
    runs = [arguments for keyword, arguments in instructions if keyword == "RUN"]
    assert any(re.search(r"pip install (--\S+ )*\.(\s|$)", run) for run in runs)
    assert any("manage.py collectstatic" in run for run in runs)


def test_dockerfile_keeps_the_build_time_secret_out_of_the_image() -> None:
    instructions = dockerfile_instructions()
    collectstatic = next(arguments for keyword, arguments in instructions if "collectstatic" in arguments)
    assert "SECRET_KEY=" in collectstatic and "DEBUG=0" in collectstatic
    for keyword, arguments in instructions:
        if keyword in {"ENV", "ARG"}:
            assert "SECRET_KEY" not in arguments


def test_dockerfile_runs_as_a_non_root_user() -> None:
    users = [arguments for keyword, arguments in dockerfile_instructions() if keyword == "USER"]
    assert users, "no USER: the container would run as root"
    user = users[-1].split(":")[0]
    assert user not in {"root", "0"}


def test_dockerfile_serves_gunicorn_on_port_8000_with_workers_from_the_environment() -> None:
    instructions = dockerfile_instructions()
    (cmd,) = [json.loads(arguments) for keyword, arguments in instructions if keyword == "CMD"]
    assert cmd[:2] == ["gunicorn", "investai.wsgi:application"]
    assert cmd[cmd.index("--bind") + 1] == "0.0.0.0:8000"
    # gunicorn reads WEB_CONCURRENCY when --workers is not given.
    assert "--workers" not in cmd and "-w" not in cmd
    assert any(keyword == "ENV" and "WEB_CONCURRENCY=" in arguments for keyword, arguments in instructions)


def test_dockerfile_healthcheck_probes_healthz_with_python() -> None:
    (healthcheck,) = [arguments for keyword, arguments in dockerfile_instructions() if keyword == "HEALTHCHECK"]
    probe = json.loads(healthcheck[healthcheck.index("CMD ") + 4 :])
    assert probe[:2] == ["python", "-c"]
    assert "urllib.request" in probe[2] and "http://127.0.0.1:8000/healthz" in probe[2]
    compile(probe[2], "<healthcheck>", "exec")
    # The same probe as compose's web healthcheck.
    assert re.sub(r"\s+", " ", SERVICES["web"]["healthcheck"]["test"][3]) == probe[2]


def test_dockerignore_keeps_secrets_and_local_state_out_of_the_image() -> None:
    ignored = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()}
    assert {".env", ".git", ".venv", "var"} <= ignored


# --- settings in production -------------------------------------------------


def manage(tmp_path: Path, *args: str, **environment: str) -> subprocess.CompletedProcess[str]:
    # Only the variables given here: none of settings.py's from this process,
    # nor the test-only DJANGO_ALLOW_ASYNC_UNSAFE (check --deploy rightly objects).
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in SETTINGS_VARS and key != "DJANGO_ALLOW_ASYNC_UNSAFE"
    }
    env.update(
        DJANGO_SETTINGS_MODULE="investai.settings",
        INVESTAI_VAR_DIR=str(tmp_path / "var"),
        PYTHONDONTWRITEBYTECODE="1",
    )
    env.update(environment)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def production(tmp_path: Path) -> dict[str, str]:
    return {
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(64),
        "ALLOWED_HOSTS": "compute.example.eu",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
    }


def assert_deploy_check_is_silent(result: subprocess.CompletedProcess[str]) -> None:
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "WARNINGS" not in output and "ERRORS" not in output, output
    assert "?: (security." not in output, output
    assert "System check identified no issues" in output, output


def test_check_deploy_reports_nothing_in_production(tmp_path: Path) -> None:
    result = manage(tmp_path, "check", "--deploy", "--fail-level", "WARNING", **production(tmp_path))
    assert_deploy_check_is_silent(result)


def test_check_deploy_reports_nothing_with_the_compose_environment(tmp_path: Path) -> None:
    # Exactly what web gets from docker-compose.yml with only the required
    # variables set (check opens no connection, so the service names may stay).
    environment = app_environment("web", given={"SECRET_KEY": secrets.token_urlsafe(64)})
    result = manage(tmp_path, "check", "--deploy", "--fail-level", "WARNING", **environment)
    assert_deploy_check_is_silent(result)


def test_missing_secret_key_with_debug_off_fails_and_says_so(tmp_path: Path) -> None:
    environment = production(tmp_path)
    del environment["SECRET_KEY"]
    result = manage(tmp_path, "check", **environment)
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_healthz_is_reachable_over_plain_http_for_probes(tmp_path: Path) -> None:
    # SECURE_SSL_REDIRECT sends everything to https except /healthz, which
    # container and load-balancer probes call over plain HTTP from inside.
    script = (
        "from django.test import Client; c = Client(HTTP_HOST='compute.example.eu'); "
        "print('STATUS', c.get('/').status_code, c.get('/healthz').status_code)"
    )
    result = manage(tmp_path, "shell", "-c", script, **production(tmp_path))
    assert result.returncode == 0, result.stderr
    root, healthz = re.findall(r"^STATUS (\d+) (\d+)$", result.stdout, re.MULTILINE)[0]
    assert root == "301"
    assert healthz in {"200", "503"}  # answered, not redirected (no tables here: 503 is fine)


# --- the operator guide ---------------------------------------------------


def test_deployment_guide_documents_every_setting() -> None:
    guide = (ROOT / "docs" / "deployment.md").read_text()
    missing = sorted(name for name in SETTINGS_VARS if f"`{name}`" not in guide)
    assert not missing, f"add these variables of investai/settings.py to docs/deployment.md: {missing}"
