from pathlib import Path

import pytest
import yaml

from tests.helpers import PRODUCTION_ENV, manage, project_env

ROOT = Path(__file__).resolve().parent.parent


def test_compose_describes_the_production_stack():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert set(services) == {"postgres", "redis", "migrate", "web", "worker", "beat"}
    for name in ("postgres", "redis", "web", "worker"):
        assert "test" in services[name]["healthcheck"], name
    for name in ("web", "worker", "beat"):
        env = services[name]["environment"]
        assert env["DATABASE_URL"].startswith("postgres://")
        assert env["REDIS_URL"].startswith("redis://")
        assert services[name]["depends_on"]["migrate"]["condition"] == (
            "service_completed_successfully"
        )
    assert set(compose["volumes"]) == {"pgdata", "redisdata", "beatdata"}


def test_dockerfile_runs_gunicorn_as_unprivileged_user():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "USER phr" in dockerfile
    assert 'CMD ["gunicorn", "phr.wsgi:application"' in dockerfile


@pytest.mark.slow
def test_beat_schedule_folder_exists_with_services_set(tmp_path):
    # With DATABASE_URL and REDIS_URL set nothing used to create var/, and beat died on its
    # schedule file in a fresh clone (taking `make run` down). The folder now exists in every
    # mode and the Procfile's beat takes the file's path from the settings.
    var = tmp_path / "fresh" / "var"
    env = project_env(
        DEBUG="1",
        PHR_VAR_DIR=str(var),
        DATABASE_URL=PRODUCTION_ENV["DATABASE_URL"],
        REDIS_URL=PRODUCTION_ENV["REDIS_URL"],
    )

    result = manage(
        "shell",
        "--no-imports",
        "-c",
        "from phr.celery import app; print(app.conf.beat_schedule_filename)",
        env=env,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(var / "celerybeat-schedule")
    assert var.is_dir()
    beat = next(
        line for line in (ROOT / "Procfile").read_text().splitlines() if line[:5] == "beat:"
    )
    assert "--schedule" not in beat
