"""gunicorn's configuration: the production image (Dockerfile CMD) and `make run` (Procfile)
both start `gunicorn phr.wsgi:application --config gunicorn.conf.py`, so they serve alike.

The access log stays on (stdout), but its lines, like gunicorn's own error lines, go through
core.log_masking: a share token, SMART Health Link manifest id or file location in a request
line or a Referer is masked before it is written.
"""

import os
import sys

# The configuration file is read before gunicorn puts the project folder on sys.path.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from gunicorn.glogging import Logger

from core.log_masking import MaskSecretPaths

bind = os.environ.get("PHR_BIND") or "0.0.0.0:8000"
workers = int(os.environ.get("WEB_CONCURRENCY") or 3)
accesslog = "-"


class MaskingLogger(Logger):
    """gunicorn's logger with the secret path segments masked in every line it writes."""

    def setup(self, cfg):
        super().setup(cfg)
        for log in (self.error_log, self.access_log):
            if not any(isinstance(f, MaskSecretPaths) for f in log.filters):
                log.addFilter(MaskSecretPaths())


logger_class = MaskingLogger
