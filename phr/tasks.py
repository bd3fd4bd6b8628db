from celery import shared_task


@shared_task
def ping(*, payload: str = "pong") -> str:
    """A trivial task proving that a worker consumes from the broker (used by tests, healthz)."""
    return payload
