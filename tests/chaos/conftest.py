"""Real processes for the chaos scenarios: Celery workers started as subprocesses on the test
database and the test Redis, which the scenarios kill, restart and starve."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection

from tests.helpers import ROOT

RESULTS = ROOT / "var" / "chaos-results.txt"


def report(scenario: str, **figures) -> None:
    """One line per scenario in var/chaos-results.txt (docs/reliability.md quotes them)."""
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    line = f"{scenario}: " + ", ".join(f"{k}={v}" for k, v in figures.items())
    with RESULTS.open("a", encoding="utf-8") as out:
        out.write(line + "\n")
    print(line)


def worker_env(**extra) -> dict:
    database = connection.settings_dict
    url = f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/{database['NAME']}"
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "DEBUG"}}
    env.update(
        DJANGO_SETTINGS_MODULE="tests.settings",
        TEST_DATABASE_URL=url,
        PHR_SYNC_LEASE_SECONDS="10",
        **extra,
    )
    return env


class Worker:
    """`celery -A phr worker` in its own process group (so SIGKILL takes its children too)."""

    def __init__(self, name: str, *, concurrency: int = 1, **env):
        self.process = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "celery"),
                "-A",
                "phr",
                "worker",
                "--concurrency",
                str(concurrency),
                "--hostname",
                f"{name}@%h",
                "--loglevel",
                "WARNING",
                "--without-gossip",
                "--without-mingle",
            ],
            cwd=ROOT,
            env=worker_env(**env),
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    @property
    def pid(self):
        return self.process.pid

    def kill(self) -> None:
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
def workers():
    from phr.celery import app

    app.control.purge()  # nothing left over from other tests
    started = []

    def start(name, **kwargs):
        worker = Worker(name, **kwargs)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()
    app.control.purge()


def wait_until(predicate, *, seconds: float, step: float = 0.1, beat=None):
    """Poll `predicate` until true; `beat` runs every second meanwhile (what Celery beat does)."""
    deadline = time.monotonic() + seconds
    next_beat = time.monotonic()
    while time.monotonic() < deadline:
        if predicate():
            return True
        if beat and time.monotonic() >= next_beat:
            beat()
            next_beat = time.monotonic() + 1
        time.sleep(step)
    return predicate()


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def Gunicorn():
    """The app under gunicorn on the test database (as in production: several processes)."""
    from benchmarks.world import Server

    return Server(
        port=free_port(),
        env=worker_env(
            ALLOWED_HOSTS="127.0.0.1,localhost",
            # Load, not abuse: the API's per-user rate limit would answer wrk with 429s.
            PHR_API_USER_RATE="100000000/min",
        ),
    )
