# Production image: gunicorn serves the app; the same image runs the worker and beat.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app

RUN useradd --create-home --uid 10001 phr
# Korean fonts: pages rendered on this machine (PDF, screenshots) show Hangul, not empty boxes.
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends fonts-noto-cjk \
 && rm -rf /var/lib/apt/lists/*
COPY pyproject.toml README.md ./
RUN pip install --upgrade pip && pip install -e .
COPY . .
# collectstatic reads settings; these throwaway values only satisfy the DEBUG-off checks.
RUN SECRET_KEY=build-only-not-a-secret-0000000000000000 \
    FIELD_ENCRYPTION_KEY=YnVpbGQtb25seS1ub3QtYS1zZWNyZXQtMDAwMDAwMDA= \
    IDENTITY_HMAC_KEY=build-only-not-a-secret-0000000000000000 \
    python manage.py collectstatic --noinput \
 && mkdir -p /app/var && chown -R phr /app/var

USER phr
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz').status != 200)"
# Address, workers and the access log (with share secrets masked): gunicorn.conf.py, shared with
# the Procfile.
CMD ["gunicorn", "phr.wsgi:application", "--config", "gunicorn.conf.py"]
