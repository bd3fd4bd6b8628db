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
# Sized for the work: a page is mostly Python (one core per process, whatever its threads) with
# short waits on PostgreSQL and Redis in between, so processes for the cores and a few threads in
# each for the waits; gthread keeps idle keep-alive connections off the workers' hands, and 4
# threads match each process's database pool (DB_POOL_MAX_SIZE, 4). On 2 cores this is the
# 4 × 4 that B4 measures (`make bench` starts gunicorn with this file; docs/performance.md).
workers = int(os.environ.get("WEB_CONCURRENCY") or 2 * (os.cpu_count() or 1))
worker_class = "gthread"
threads = int(os.environ.get("WEB_THREADS") or 4)
timeout = 120
accesslog = "-"


class MaskingLogger(Logger):
    """gunicorn's logger with the secret path segments masked in every line it writes."""

    def setup(self, cfg):
        super().setup(cfg)
        for log in (self.error_log, self.access_log):
            if not any(isinstance(f, MaskSecretPaths) for f in log.filters):
                log.addFilter(MaskSecretPaths())


logger_class = MaskingLogger
