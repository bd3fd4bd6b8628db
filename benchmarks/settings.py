"""Settings for `make bench`: the product's settings on PostgreSQL and Redis of their own
(database phr_bench, Redis database 2), production-like (DEBUG off), mock hospitals on."""

import os

os.environ["DATABASE_URL"] = os.environ.get(
    "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/phr_bench"
)
os.environ["REDIS_URL"] = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/2")
os.environ.setdefault("SECRET_KEY", "bench-secret-key-" + "b" * 40)
os.environ.setdefault("FIELD_ENCRYPTION_KEY", "YmVuY2gtb25seS1maWVsZC1lbmNyeXB0aW9uLWtleTA=")
os.environ.setdefault("IDENTITY_HMAC_KEY", "bench-identity-hmac-key-" + "i" * 20)
os.environ.setdefault("CACHE_KEY_PREFIX", "phr-bench")
os.environ.setdefault("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")
os.environ.pop("DEBUG", None)
os.environ["PHR_MOCK_HOSPITALS"] = "true"
# Load, not abuse: the API's per-user rate limit would answer most of wrk's requests with 429.
os.environ.setdefault("PHR_API_USER_RATE", "100000000/min")
os.environ.setdefault("PHR_API_ANON_RATE", "100000000/min")

from phr.settings import *  # noqa: F403

SECURE_SSL_REDIRECT = False
PHR_FHIR_ALLOW_LOOPBACK = True
STORAGES["staticfiles"] = {  # noqa: F405
    "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
}
WHITENOISE_USE_FINDERS = True
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
LOGGING["root"]["level"] = "WARNING"  # noqa: F405
