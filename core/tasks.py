from celery import shared_task

# The mail task is defined in core.mail, beside the delivery it wraps; imported here so that the
# worker's autodiscovery of `core.tasks` registers it.
from core.mail import send_email  # noqa: F401


@shared_task(name="phr.ping")
def ping(*, payload: str = "pong") -> str:
    """A trivial task proving that a worker consumes from the broker (used by tests, healthz)."""
    return payload
