from pathlib import Path

import yaml

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
