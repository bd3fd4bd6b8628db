from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from records import queries
from records.explain import summaries
from records.models import Category


@login_required
@require_GET
def visit(request, code):
    """One visit in plain words: where, when, what was diagnosed, prescribed and tested."""
    encounter = queries.record_for(request.actor, code)
    if encounter.category != Category.ENCOUNTER:
        raise Http404
    summary = summaries.visit_summary(queries.records_for(request.actor), encounter)
    return render(request, "explain/visit.html", {"summary": summary, "encounter": encounter})


@login_required
@require_GET
def glance(request):
    """My health at a glance: one printable page beside the clinical summary."""
    summary = summaries.glance(queries.records_for(request.actor))
    return render(request, "explain/glance.html", {"summary": summary})


@login_required
@require_GET
def digest(request):
    """The dashboard's "what changed since you last looked", loaded by htmx after the page."""
    since = summaries.last_looked(request.actor)
    summary = summaries.digest(queries.records_for(request.actor), since=since)
    return render(
        request,
        "explain/_digest.html",
        {"summary": summary, "since": since, "may_mark": request.actor.may_manage},
    )


@login_required
@require_POST
def digest_seen(request):
    """Mark what changed as seen (the patient only); back to the dashboard."""
    try:
        summaries.mark_seen(actor=request.actor)
    except PermissionError as refused:
        raise PermissionDenied from refused
    return redirect("dashboard")
