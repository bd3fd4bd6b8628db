"""The benchmark world: a fresh database, the app served by gunicorn (it is also the mock
hospitals), mock hospitals with patients of a chosen size, institutions onboarded and active."""

import datetime as dt
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
KST = dt.timezone(dt.timedelta(hours=9))
CLOCK = dt.datetime(2026, 11, 1, 12, 0, tzinfo=KST)


def bench_env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "DEBUG"}}
    env["DJANGO_SETTINGS_MODULE"] = "benchmarks.settings"
    env.update(extra)
    return env


def create_database() -> None:
    """Drop and create the benchmark database (the URL's last path part), then migrate."""
    import psycopg

    url = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/phr_bench")
    base, name = url.rsplit("/", 1)
    with psycopg.connect(f"{base}/postgres", autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=ROOT,
        env=bench_env(),
        check=True,
    )


class Server:
    """gunicorn serving the app (and the mock hospitals) on loopback, as gunicorn.conf.py sizes
    it in production (`workers`: another number of processes, for a case that needs one)."""

    def __init__(self, port: int | None = None, workers: int = 0, env: dict | None = None):
        # BENCH_PORT: several benchmark runs on one machine each need a port of their own.
        self.port = port or int(os.environ.get("BENCH_PORT", "8765"))
        self.workers = workers
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = env if env is not None else bench_env()
        self.process = None

    def __enter__(self):
        self.process = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "gunicorn"),
                "phr.wsgi",
                # The production sizing (workers, worker class, threads, timeouts), with its
                # access log off (a line per request under wrk) and the benchmark's address.
                "--config",
                "gunicorn.conf.py",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--access-logfile",
                "/dev/null",
                "--log-level",
                "warning",
                *(["--workers", str(self.workers)] if self.workers else []),
            ],
            cwd=ROOT,
            env=self.env,
        )
        for _ in range(200):
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError("gunicorn did not start")

    def __exit__(self, *exc):
        self.process.terminate()
        self.process.wait(timeout=30)


def mock_hospital(slug: str, *, seed: int, size: int, hira: str, page_size: int = 500):
    from mockhospital.models import MockInstitution

    return MockInstitution.objects.create(
        slug=slug,
        name=f"벤치병원 {slug}",
        name_en=f"Bench Hospital {slug}",
        hira_number=hira,
        type_code="11",
        region="서울특별시",
        profile="tertiary",
        client_id=slug,
        client_secret=f"secret-{slug}",
        seed=seed,
        patient_size=size,
        history_years=5,
        default_page_size=page_size,
        max_page_size=1000,
        clock=CLOCK,
    )


def onboard(server: Server, hospital, *, cap: int = 4):
    from mockhospital.onboarding import onboard_mock_hospital

    return onboard_mock_hospital(hospital, base_url=server.url, max_concurrent_syncs=cap)


def patient(number: int):
    """A verified patient (their identity is what the mock hospitals know them by)."""
    from allauth.account.models import EmailAddress

    from accounts import domain
    from accounts.models import User

    user = User.objects.create_user(email=f"bench{number}@example.org", password="bench-pass-123")
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    domain.verify_identity(
        user=user,
        full_name=f"벤치{number}",
        birth_date=dt.date(1960, 1, 1) + dt.timedelta(days=number),
        sex="female",
        phone=f"010-{number // 10000:04d}-{number % 10000:04d}",
    )
    return user


def known_at(hospital, user, *, size: int):
    """Make `hospital` know `user` with `size` resources, generated now (not in any timing)."""
    from mockhospital import domain

    mock_patient = domain.register_patient(
        institution=hospital, identifier=user.profile.verified_identifier, size=size
    )
    domain.ensure_materialized(mock_patient)
    return mock_patient
