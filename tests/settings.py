"""Settings for the test suite: the product's settings on real PostgreSQL and Redis.

The environment is set before phr.settings reads it, so the suite runs the same code path
as production (DEBUG off, mandatory e-mail verification) against the test services.
"""

import os

os.environ["DATABASE_URL"] = os.environ.get(
    "TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/phr"
)
os.environ["REDIS_URL"] = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/1")
os.environ.setdefault("SECRET_KEY", "test-secret-key-" + "t" * 40)
os.environ.setdefault("FIELD_ENCRYPTION_KEY", "dGVzdC1vbmx5LWZpZWxkLWVuY3J5cHRpb24ta2V5LTA=")
os.environ.setdefault("IDENTITY_HMAC_KEY", "test-identity-hmac-key-" + "i" * 20)
os.environ.setdefault("CACHE_KEY_PREFIX", "phr-test")
os.environ.pop("DEBUG", None)
os.environ["PHR_MOCK_HOSPITALS"] = "true"  # the hospital side of every sync test

from phr.settings import *

# The test client speaks plain HTTP; production redirects to HTTPS.
SECURE_SSL_REDIRECT = False
# Fast hashing: the suite creates many users; production uses Django's default (PBKDF2).
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
# Tests read mail.outbox right after the request: delivered inline. Tests of the worker path
# (tests/test_fault_isolation.py) turn it on with a real worker and SMTP server.
PHR_MAIL_ASYNC = False
# Assertions read English; Korean is tested explicitly.
LANGUAGE_CODE = "en"
STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}
# Serve static files from the app folders (no collectstatic before tests), as in development.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
# The mock hospitals run on this machine; retries wait milliseconds, not seconds.
PHR_FHIR_ALLOW_LOOPBACK = True
PHR_FHIR_TIMEOUT = 2.0
PHR_FHIR_BASE_DELAY = 0.01
PHR_FHIR_RETRY_BUDGET = 5.0
PHR_FHIR_ATTEMPTS = 8
PHR_SYNC_PAGE_SIZE = 100
# Threads serving requests (the live server, the in-thread Celery worker) close their database
# connections after each request or task, so none is open when the test database is dropped.
DATABASES["default"]["CONN_MAX_AGE"] = 0
# No pool in the test process: tests run many threads that each hold a connection while they
# wait for one another (a barrier before a burst of parallel requests), which a bounded pool
# would starve. Each thread's connection closes after its request or task, as above, so the
# suite stays bounded by its threads. The servers' pool is tested in tests/test_db_connections.py
# (runserver and gunicorn under phr.settings).
DATABASES["default"].get("OPTIONS", {}).pop("pool", None)
