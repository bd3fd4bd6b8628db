import ast
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


# Queued messages name their task: a name that changed with a moved module would strand them.
# These are the names Celery gave the tasks automatically before they were written down.
TASK_NAMES = [
    "audit.tasks.purge_expired_events",
    "institutions.tasks.recover_runs",
    "institutions.tasks.schedule_syncs",
    "institutions.tasks.sync_run",
    "pages.tasks.send_due_reminders",
    "phr.ping",
    "phr.send_email",
    "sharing.tasks.end_guardian_grants",
]
APPS = [
    "core",
    "audit",
    "accounts",
    "notifications",
    "records",
    "institutions",
    "sharing",
    "pages",
    "phr",
]


def test_every_task_of_ours_is_registered_under_its_written_down_name():
    app.loader.import_default_modules()  # what a worker imports: autodiscovered tasks modules

    ours = sorted(name for name in app.tasks if not name.startswith("celery."))

    assert ours == TASK_NAMES
    for name in ours:
        assert app.tasks[name].__module__.split(".")[0] in APPS


def test_every_task_is_given_an_explicit_name():
    undeclared = []
    for path in sorted(p for package in APPS for p in (ROOT / package).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            for decorator in getattr(node, "decorator_list", []):
                call = decorator if isinstance(decorator, ast.Call) else None
                target = call.func if call else decorator
                named = call is not None and any(k.arg == "name" for k in call.keywords)
                if ast.unparse(target).endswith(("shared_task", "app.task")) and not named:
                    undeclared.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name}")
    assert undeclared == []
