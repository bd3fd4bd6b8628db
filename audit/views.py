from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import render
from django.views.decorators.http import require_GET

from audit import queries
from audit.forms import ActivityFilterForm

PAGE_SIZE = 50


@login_required
@require_GET
def activity(request):
    """ "Who saw my data": every event about the patient's data or account, in plain words."""
    form = ActivityFilterForm(request.GET or None)
    events = form.apply(queries.events_for(request.actor))
    page = Paginator(events, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "audit/activity.html",
        {"form": form, "page": page, "query": query.urlencode()},
    )
