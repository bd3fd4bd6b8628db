from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.views.decorators.http import require_GET

from accounts.domain import profile_for
from institutions import queries


@login_required
@require_GET
def dashboard(request):
    """The patient's home: what to do next, and each linked source with its latest sync."""
    sources = list(queries.sources_for_patient(request.user))
    runs = queries.latest_runs(sources)
    for source in sources:
        source.latest_run = runs.get(source.latest_run_id)
    return render(
        request,
        "records/dashboard.html",
        {"profile": profile_for(request.user), "sources": sources},
    )
