"""Running the project's own commands as subprocesses, with a controlled environment."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Variables that choose services or secrets: removed so each test states what it runs with.
_CONFIG_VARS = {
    "DATABASE_URL",
    "REDIS_URL",
    "DEBUG",
    "SECRET_KEY",
    "FIELD_ENCRYPTION_KEY",
    "IDENTITY_HMAC_KEY",
    "ALLOWED_HOSTS",
    "DJANGO_SETTINGS_MODULE",
    "PHR_VAR_DIR",
    "DJANGO_ALLOW_ASYNC_UNSAFE",
    "PHR_MOCK_HOSPITALS",
}


def project_env(**overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _CONFIG_VARS}
    env["DJANGO_SETTINGS_MODULE"] = "phr.settings"
    env.update(overrides)
    return env


def manage(*args: str, env: dict[str, str], timeout: int = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


PRODUCTION_ENV = {
    "SECRET_KEY": "prod-like-" + "k8Zq2vXw9LmN4pR7sT1uY3bC6dF0gH5jA" * 2,
    "FIELD_ENCRYPTION_KEY": "cHJvZC1saWtlLWZpZWxkLWtleS0zMi1ieXRlcy0wMDA=",
    "IDENTITY_HMAC_KEY": "prod-like-identity-key-" + "q" * 30,
    "ALLOWED_HOSTS": "phr.example.org",
    "CSRF_TRUSTED_ORIGINS": "https://phr.example.org",
    "DATABASE_URL": os.environ.get("TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/phr"),
    "REDIS_URL": os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/1"),
}
