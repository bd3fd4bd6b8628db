from celery import shared_task
from django.conf import settings

from phr import mail


@shared_task
def ping(*, payload: str = "pong") -> str:
    """A trivial task proving that a worker consumes from the broker (used by tests, healthz)."""
    return payload


@shared_task(bind=True, name="phr.send_email", max_retries=None, acks_late=True)
def send_email(self, *, subject, body, from_email, to, headers=None, alternatives=()):
    """Deliver one e-mail (see phr.mail.send_after_commit): transient faults are retried with
    backoff up to settings.PHR_MAIL_ATTEMPTS attempts; a permanent refusal or the last failure is
    logged by kind only (never the address or the text) and the task ends."""
    attempt = self.request.retries + 1
    try:
        mail.deliver(
            subject=subject,
            body=body,
            from_email=from_email,
            to=to,
            headers=headers,
            alternatives=alternatives,
        )
    except mail.TransientMailError as exc:
        if attempt >= settings.PHR_MAIL_ATTEMPTS:
            mail.logger.error("E-mail not delivered after %d attempts (%s).", attempt, exc)
            return "failed"
        mail.logger.warning("E-mail attempt %d failed (%s); retrying.", attempt, exc)
        raise self.retry(countdown=mail.retry_delay(attempt)) from None
    except mail.PermanentMailError as exc:
        mail.logger.error("E-mail refused by the server (%s); not retried.", exc)
        return "refused"
    return "sent"
