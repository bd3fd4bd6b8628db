"""E-mail leaves through the Celery worker, after the transaction that caused it commits.

A page that sends mail (sign-up, password reset, a share opened) must not fail because the
SMTP server is down or slow: the request queues the message and answers; the worker delivers
it, retrying transient faults with backoff. Nothing here logs an address or a message's text.
"""

import logging
import random
import smtplib

from celery import shared_task
from django.conf import settings
from django.core.mail import EmailMessage, EmailMultiAlternatives
from django.db import transaction

logger = logging.getLogger("phr.mail")


class TransientMailError(Exception):
    """Delivery failed in a way a later attempt may not (connection, timeout, SMTP 4xx)."""


class PermanentMailError(Exception):
    """Delivery was refused for good (SMTP 5xx: a bad address, authentication, policy)."""


def send_after_commit(message: EmailMessage) -> None:
    """Queue `message` for the worker once the current transaction commits.

    Side effects: a Celery message holding the mail's parts as primitives. With
    settings.PHR_MAIL_ASYNC off (the test suite's in-memory outbox) it is delivered inline.
    """
    payload = {
        "subject": message.subject,
        "body": message.body,
        "from_email": message.from_email,
        "to": list(message.to),
        "headers": dict(message.extra_headers),
        "alternatives": [
            [content, mimetype] for content, mimetype in getattr(message, "alternatives", [])
        ],
    }
    if not settings.PHR_MAIL_ASYNC:
        deliver(**payload)
        return
    transaction.on_commit(lambda: send_email.delay(**payload))


def deliver(*, subject, body, from_email, to, headers=None, alternatives=()) -> None:
    """Send one message now through settings.EMAIL_BACKEND.

    Raises TransientMailError or PermanentMailError, whose text names only the kind of fault.
    """
    message = EmailMultiAlternatives(subject, body, from_email, to, headers=headers)
    for content, mimetype in alternatives:
        message.attach_alternative(content, mimetype)
    try:
        message.send(fail_silently=False)
    except smtplib.SMTPRecipientsRefused as exc:
        codes = [code for code, _ in exc.recipients.values()]
        raise _classified(exc, min(codes) if codes else 550) from None
    except smtplib.SMTPResponseException as exc:
        raise _classified(exc, exc.smtp_code) from None
    except (smtplib.SMTPNotSupportedError, smtplib.SMTPSenderRefused) as exc:
        raise PermanentMailError(type(exc).__name__) from None
    except OSError as exc:  # smtplib's own errors, refused connections, timeouts, DNS
        raise TransientMailError(type(exc).__name__) from None


def _classified(exc: Exception, code: int) -> Exception:
    kind = TransientMailError if 400 <= code < 500 else PermanentMailError
    return kind(f"{type(exc).__name__} {code}")


def retry_delay(attempt: int) -> float:
    """Seconds before retry number `attempt` (1, 2, …): exponential, capped, with jitter."""
    base = settings.PHR_MAIL_RETRY_DELAY * 2 ** (attempt - 1)
    return min(base, 3600) * random.uniform(0.8, 1.2)  # noqa: S311 (jitter, not a secret)


# The thin task lives beside what it wraps: send_after_commit enqueues it, and a task module
# importing this one would make the two a circle.
@shared_task(bind=True, name="phr.send_email", max_retries=None, acks_late=True)
def send_email(self, *, subject, body, from_email, to, headers=None, alternatives=()):
    """Deliver one e-mail (see send_after_commit): transient faults are retried with
    backoff up to settings.PHR_MAIL_ATTEMPTS attempts; a permanent refusal or the last failure is
    logged by kind only (never the address or the text) and the task ends."""
    attempt = self.request.retries + 1
    try:
        deliver(
            subject=subject,
            body=body,
            from_email=from_email,
            to=to,
            headers=headers,
            alternatives=alternatives,
        )
    except TransientMailError as exc:
        if attempt >= settings.PHR_MAIL_ATTEMPTS:
            logger.error("E-mail not delivered after %d attempts (%s).", attempt, exc)
            return "failed"
        logger.warning("E-mail attempt %d failed (%s); retrying.", attempt, exc)
        raise self.retry(countdown=retry_delay(attempt)) from None
    except PermanentMailError as exc:
        logger.error("E-mail refused by the server (%s); not retried.", exc)
        return "refused"
    return "sent"
