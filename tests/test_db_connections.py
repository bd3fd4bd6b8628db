"""The servers keep a bounded number of PostgreSQL connections, however many requests arrive.

The development server (`manage.py runserver`, as `make run` starts it) and gunicorn with threads
serve each request on its own thread; a persistent connection per thread once held 83 idle
connections and then answered "too many clients" with 500s for everyone. Each test starts the
real server on the test database, with its own `application_name`, fires waves of parallel
requests over real connections and samples `pg_stat_activity` meanwhile.
"""

import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import psycopg
import pytest
from django.db import connection

from tests.helpers import ROOT, project_env

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

WAVES = 3
PER_WAVE = 120  # parallel requests in each wave (PostgreSQL's max_connections is 100)
POOL_MAX = 4  # DB_POOL_MAX_SIZE given to each server process below


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _database_url(application_name: str) -> str:
    db = connection.settings_dict
    return (
        f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
        f"?application_name={application_name}"
    )


def _server_connections(application_name: str) -> int:
    db = connection.settings_dict
    with psycopg.connect(
        host=db["HOST"], port=db["PORT"], user=db["USER"], dbname=db["NAME"], autocommit=True
    ) as probe:
        return probe.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND application_name = %s",
            [db["NAME"], application_name],
        ).fetchone()[0]


class _Sampler(threading.Thread):
    """Counts the server's connections every 20 ms while the waves run; keeps the maximum."""

    def __init__(self, application_name: str):
        super().__init__(daemon=True)
        self.application_name, self.peak, self.samples = application_name, 0, 0
        self.stopped = threading.Event()

    def run(self):
        while not self.stopped.is_set():
            self.peak = max(self.peak, _server_connections(self.application_name))
            self.samples += 1
            time.sleep(0.02)


def _one_request(url: str) -> int:
    # A client per request: a real, separate TCP connection each time (no keep-alive reuse).
    with httpx.Client(timeout=60) as client:
        return client.get(url).status_code


def _waves(url: str) -> list[int]:
    statuses = []
    with ThreadPoolExecutor(max_workers=PER_WAVE) as pool:
        for _ in range(WAVES):
            statuses += list(pool.map(_one_request, [url] * PER_WAVE))
    return statuses


def _serve(command: list[str], application_name: str, port: int) -> subprocess.Popen:
    env = project_env(
        DEBUG="1",
        DATABASE_URL=_database_url(application_name),
        REDIS_URL=project_env().get("TEST_REDIS_URL", "redis://127.0.0.1:6379/1"),
        DB_POOL_MAX_SIZE=str(POOL_MAX),
        ALLOWED_HOSTS="127.0.0.1",
    )
    # The server's log goes to a file: a pipe nobody reads would fill up and stall it.
    log = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 - closed in _stop
    process = subprocess.Popen(
        command, cwd=ROOT, env=env, start_new_session=True, stdout=log, stderr=log, text=True
    )
    process.log = log
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log.seek(0)
            raise AssertionError(f"server exited: {log.read()[-3000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    _stop(process)
    raise AssertionError("server did not answer /healthz within 60 s")


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
    process.log.close()


def _measure(command: list[str], port: int, application_name: str) -> tuple[list[int], int]:
    process = _serve(command, application_name, port)
    sampler = _Sampler(application_name)
    try:
        sampler.start()
        statuses = _waves(f"http://127.0.0.1:{port}/healthz")
    finally:
        sampler.stopped.set()
        sampler.join(timeout=10)
        _stop(process)
    assert sampler.samples > 10  # the sampler really watched the waves
    return statuses, sampler.peak


def test_runserver_database_connections_stay_bounded_under_parallel_requests():
    port, name = _free_port(), f"phr-conn-{uuid.uuid4().hex[:8]}"
    command = [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"]

    statuses, peak = _measure(command, port, name)

    assert statuses == [200] * (WAVES * PER_WAVE)
    # One process, one pool: never more than its size, however many threads serve requests.
    assert 1 <= peak <= POOL_MAX, peak
    print(f"runserver: {WAVES}x{PER_WAVE} requests, peak {peak} connections")


def test_gunicorn_database_connections_stay_bounded_under_parallel_requests():
    port, name = _free_port(), f"phr-conn-{uuid.uuid4().hex[:8]}"
    workers = 2
    command = [
        str(Path(sys.executable).parent / "gunicorn"),
        "phr.wsgi:application",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        # Threads, as a production deployment that wants concurrency per process uses them.
        "--worker-class",
        "gthread",
        "--threads",
        "16",
    ]

    statuses, peak = _measure(command, port, name)

    assert statuses == [200] * (WAVES * PER_WAVE)
    assert 1 <= peak <= workers * POOL_MAX, peak
    print(f"gunicorn: {WAVES}x{PER_WAVE} requests, peak {peak} connections")


def test_runserver_replaces_connections_the_database_dropped():
    # CONN_HEALTH_CHECKS: the pool checks a connection before handing it out, so connections
    # PostgreSQL closed (a restart, an idle timeout, an operator) are replaced, never used.
    port, name = _free_port(), f"phr-conn-{uuid.uuid4().hex[:8]}"
    command = [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"]
    url = f"http://127.0.0.1:{port}/healthz"
    process = _serve(command, name, port)
    try:
        with ThreadPoolExecutor(max_workers=20) as pool:
            before = list(pool.map(_one_request, [url] * 20))
            db = connection.settings_dict
            with psycopg.connect(
                host=db["HOST"], port=db["PORT"], user=db["USER"], dbname=db["NAME"]
            ) as admin:
                dropped = admin.execute(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE application_name = %s",
                    [name],
                ).fetchone()[0]
            after = list(pool.map(_one_request, [url] * 40))
    finally:
        _stop(process)

    assert before == [200] * 20
    assert dropped >= 1  # the pool's idle connections were there, and were cut
    assert after == [200] * 40
