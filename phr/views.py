from django.http import JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from phr import health


@require_GET
def landing(request):
    return render(request, "landing.html")


@never_cache
@require_GET
def healthz(request):
    """200 when the database and the broker answer, 503 otherwise (for load balancers)."""
    checks = {"database": health.database_ok(), "broker": health.broker_ok()}
    healthy = all(checks.values())
    body = {"status": "ok" if healthy else "unavailable"}
    body.update({name: "ok" if ok else "unavailable" for name, ok in checks.items()})
    return JsonResponse(body, status=200 if healthy else 503)
