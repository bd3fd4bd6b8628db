"""Masks the secret parts of URL paths in log lines: share tokens (/s/<token>/), SMART Health
Link manifest ids (/shl/<id>), file locations (/shl/file/<location>) and caregiver invitation
tokens (/family/invitations/<token>/).

Each of them alone opens a patient's records, so none may reach a log (gunicorn's access log,
runserver's request lines, django.request's "Not Found: …", a Referer, a traceback). Used by
the LOGGING filter below and by gunicorn's logger class (gunicorn.conf.py). Hand-written: no
library masks application-specific URL segments; it is one regular expression.
"""

import logging
import re

MASK = "[masked]"

# A "/" may arrive percent-encoded (%2F) in a query string or a half-decoded path; the secret
# segment runs to the next separator. Any occurrence is masked (also "/x/s/…"): masking a
# harmless path costs nothing, missing a token leaks a patient's records.
_SLASH = r"(?:/|%2[Ff])"
_SECRET_PATH = re.compile(
    rf"({_SLASH}(?:s|shl{_SLASH}file|shl|invitations){_SLASH})((?:(?!%2[Ff])[^/?#&\s\"'<>])+)"
)


def mask_secrets(text: str) -> str:
    return _SECRET_PATH.sub(lambda m: m.group(1) + MASK, text)


class MaskSecretPaths(logging.Filter):
    """Rewrites a record's message (and traceback) with the secret path segments masked."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_secrets(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_secrets(record.exc_text)
        return True
