import sqlite3
import subprocess
import sys

import pytest
from celery.contrib.testing.worker import start_worker

from core.tasks import ping
from phr.celery import app
from tests.helpers import ROOT, manage, project_env


@pytest.mark.worker
def test_real_worker_runs_task_through_redis():
    assert app.conf.broker_url.startswith("redis://")
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        result = ping.delay(payload="through-redis")
        assert result.get(timeout=30) == "through-redis"


def test_celery_reliability_settings():
    # A task killed mid-way must be redelivered, not lost, and must not be handed to a second
    # worker while it still runs (visibility timeout above the hard limit).
    conf = app.conf
    assert conf.task_acks_late is True
    assert conf.task_reject_on_worker_lost is True
    assert conf.worker_prefetch_multiplier == 1
    assert conf.task_soft_time_limit < conf.task_time_limit
    assert conf.broker_transport_options["visibility_timeout"] > conf.task_time_limit


@pytest.mark.slow
@pytest.mark.worker
def test_embedded_default_sqlite_and_filesystem_broker(tmp_path):
    env = project_env(DEBUG="1", PHR_VAR_DIR=str(tmp_path))

    migrated = manage("migrate", "--noinput", env=env)
    assert migrated.returncode == 0, migrated.stderr
    with sqlite3.connect(tmp_path / "phr.sqlite3") as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert db.execute("SELECT COUNT(*) FROM accounts_user").fetchone() == (0,)

    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "phr", "worker", "--pool=solo", "--loglevel=INFO"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        sent = manage(
            "shell",
            "--no-imports",
            "-c",
            "from core.tasks import ping; print(ping.delay(payload='embedded').get(timeout=60))",
            env=env,
            timeout=90,
        )
    finally:
        worker.terminate()
        output, _ = worker.communicate(timeout=30)
    assert sent.returncode == 0, sent.stderr
    assert sent.stdout.strip() == "embedded"
    assert "filesystem" in output
    assert "phr.ping" in output
