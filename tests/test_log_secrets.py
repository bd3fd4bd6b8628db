"""No share token, SHL manifest id or file location in any log line (issue 14, item 4).

The production image's command (the Dockerfile's CMD, exactly) and the development server are
run as subprocesses on the test database; a share, its manifest and its file are opened, plus
error paths (404, 405, a CSRF refusal, a Referer from a share page). Their whole output
(stdout + stderr) must hold none of the secrets, while every request is still logged (masked).
"""

import base64
import json
import re
import shlex
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from django.db import connection

from core.log_masking import MASK, mask_secrets
from tests.factories import make_share
from tests.helpers import PRODUCTION_ENV, ROOT, project_env

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def _dockerfile_command() -> list[str]:
    [line] = [x for x in (ROOT / "Dockerfile").read_text().splitlines() if x.startswith("CMD ")]
    return json.loads(line.removeprefix("CMD "))


def _procfile_web() -> list[str]:
    [line] = [x for x in (ROOT / "Procfile").read_text().splitlines() if x.startswith("web:")]
    return shlex.split(line.removeprefix("web:"))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _database_url() -> str:
    db = connection.settings_dict
    return f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


def _shl_secrets(shlink: str) -> str:
    encoded = shlink.removeprefix("shlink:/")
    url = json.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))["url"]
    return url.rsplit("/", 1)[1]


def test_procfile_serves_with_the_dockerfiles_gunicorn_configuration():
    docker = _dockerfile_command()
    web = _procfile_web()
    assert docker[0] == "gunicorn"
    assert "--config" in docker
    # The same program, configuration file and flags; only the address (PHR_BIND) differs.
    assert [part for part in web if not part.startswith("PHR_BIND=")] == docker


def test_mask_secrets_masks_every_secret_path_form():
    line = (
        '"GET /s/AbC-12_x/c/lab/?page=2 HTTP/1.1" 200 "https://h/s/Tok_9/" '
        "/shl/file/Loc.x-1 /shl/Mani_f-3 %2Fs%2FEnc0ded%2F /s%2Fhalf"
    )
    masked = mask_secrets(line)
    assert masked == (
        f'"GET /s/{MASK}/c/lab/?page=2 HTTP/1.1" 200 "https://h/s/{MASK}/" '
        f"/shl/file/{MASK} /shl/{MASK} %2Fs%2F{MASK}%2F /s%2F{MASK}"
    )


def _serve(command: list[str], env: dict[str, str], port: int) -> subprocess.Popen:
    process = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return process
        except httpx.TransportError:
            time.sleep(0.2)
    process.kill()
    _out, err = process.communicate()
    pytest.fail(f"server did not start: {err[-3000:]}")


SERVERS = {
    "gunicorn (Dockerfile CMD)": lambda port: [
        str(Path(sys.executable).parent / "gunicorn"),
        *_dockerfile_command()[1:],
    ],
    "runserver": lambda port: [
        sys.executable,
        "manage.py",
        "runserver",
        f"127.0.0.1:{port}",
        "--noreload",
    ],
}


@pytest.mark.parametrize("debug", ["production", "development"])
@pytest.mark.parametrize("server", list(SERVERS))
def test_server_output_holds_no_share_secrets(patient, server, debug):
    """Both as deployed and as `make run` serves (DEBUG on, where Django's own console handler
    would print "Not Found: <path>" a second time, unmasked)."""
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    share, token = make_share(patient, allow_download=True, base_url=base)
    manifest_id = _shl_secrets(share.shlink)
    env = project_env(
        **{
            **PRODUCTION_ENV,
            "DATABASE_URL": _database_url(),
            "ALLOWED_HOSTS": "127.0.0.1",
            "PHR_BIND": f"127.0.0.1:{port}",
            "PHR_BEHIND_TLS_PROXY": "true",  # the requests below say they came through TLS
            "PHR_MANIFEST_STATIC": "0",
            "LOG_LEVEL": "INFO",
            **({"DEBUG": "1"} if debug == "development" else {}),
        }
    )
    process = _serve(SERVERS[server](port), env, port)
    try:
        with httpx.Client(base_url=base, headers={"X-Forwarded-Proto": "https"}) as client:
            statuses = [client.get(f"/s/{token}/").status_code]
            manifest = client.post(f"/shl/{manifest_id}", json={"recipient": "Dr. Kim"})
            location = urlsplit(manifest.json()["files"][0]["location"]).path
            file_id = location.rsplit("/", 1)[1]
            statuses += [
                manifest.status_code,
                client.get(location).status_code,
                client.get(f"/s/{token}/c/no-such-category/").status_code,
                client.get(f"/s/{token}x/").status_code,
                client.get(f"/shl/{manifest_id}").status_code,
                client.put(location).status_code,
                client.post(f"/shl/{manifest_id}x", json={"recipient": "x"}).status_code,
                client.post(f"/s/{token}/", data={"name": "x"}).status_code,
                client.get(
                    "/healthz", headers={"Referer": f"https://127.0.0.1/s/{token}/"}
                ).status_code,
            ]
    finally:
        process.terminate()
        out, err = process.communicate(timeout=30)
    output = out + err

    assert statuses == [200, 200, 200, 404, 404, 405, 403, 404, 302, 200]
    for secret in (token, manifest_id, file_id):
        assert secret not in output
    # Still logged, masked: each request above is one line.
    requests = [line for line in output.splitlines() if re.search(r'"(GET|POST|PUT) /', line)]
    paths = re.findall(r'"(?:GET|POST|PUT) (\S+) HTTP', "\n".join(requests))
    assert paths.count(f"/s/{MASK}/") == 3  # the open, an unknown token, the POST
    assert paths.count(f"/shl/{MASK}") == 3
    assert paths.count(f"/shl/file/{MASK}") == 2
    assert f"Not Found: /s/{MASK}/c/no-such-category/" in output  # django.request
    print(f"{server}, {debug}: {len(output.splitlines())} log lines scanned, 0 secrets")
