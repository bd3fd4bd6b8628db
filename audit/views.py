import functools

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import render
from django.template.loader import render_to_string
from django.utils.translation import get_language
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
    if form.is_bound and not form.is_valid():
        # A filter that cannot be applied lists nothing under its errors, never everything
        # as if it had been.
        events = events.none()
    page = Paginator(events, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "audit/activity.html",
        {
            "form": form,
            "blank_form": "" if form.is_bound else _blank_form(get_language()),
            "page": page,
            "query": query.urlencode(),
        },
    )


@functools.lru_cache(maxsize=8)
def _blank_form(language: str) -> str:
    """The filter form as nobody has filled it in: the same for everyone who reads `language`
    (its two selects hold every actor and every action). Rendered once per process and
    language: Django's widget templates, an include per option, were half of the page."""
    return render_to_string("includes/form.html", {"form": ActivityFilterForm()})
