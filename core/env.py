"""Reading configuration from the environment, failing loudly on bad values.

Every setting that comes from the environment goes through these helpers so that a
typo ("DEBUG=ture") stops the process at start-up instead of silently meaning "off".
"""

import os
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env(name: str, default: str | None = None) -> str | None:
    """The value of `name`, or of the file named by `name_FILE` (for Docker secrets)."""
    file_name = os.environ.get(f"{name}_FILE")
    if file_name:
        try:
            return Path(file_name).read_text().strip()
        except OSError as exc:
            raise ImproperlyConfigured(f"{name}_FILE={file_name} cannot be read: {exc}") from exc
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    value = env(name)
    if value is None:
        return default
    value = value.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}={value!r} is not a boolean (use 1/0, true/false, yes/no).")


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    value = env(name)
    if value is None or value.strip() == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={value!r} is not an integer.") from None
    if minimum is not None and number < minimum:
        raise ImproperlyConfigured(f"{name}={number} is below the minimum of {minimum}.")
    return number


def env_list(name: str, default: list[str]) -> list[str]:
    value = env(name)
    if value is None:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


def env_secret(name: str, *, required: bool, dev_default: str, min_length: int = 32) -> str:
    """A secret that must be set (and long enough) unless we run in development.

    `dev_default` is only ever used when `required` is false, i.e. with DEBUG on.
    """
    value = env(name)
    if value:
        if len(value) < min_length:
            raise ImproperlyConfigured(
                f"{name} is too short: use at least {min_length} characters."
            )
        return value
    if required:
        raise ImproperlyConfigured(
            f"{name} must be set when DEBUG is off (or provide {name}_FILE pointing at a file)."
        )
    return dev_default
