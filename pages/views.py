from allauth.account.decorators import reauthentication_required
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.forms import DeleteAccountForm
from accounts.queries import profile_for
from institutions import queries as source_queries
from pages import archive, domain
from records import queries, readmodels
from records.models import Category


def _sources_context(actor) -> dict:
    sources = list(source_queries.linked_sources(actor))
    runs = source_queries.latest_runs(sources)
    for source in sources:
        source.latest_run = runs.get(source.latest_run_id)
    active = any(source.latest_run and source.latest_run.is_active for source in sources)
    return {"sources": sources, "any_active": active}


@login_required
@require_GET
def dashboard_sources(request):
    """The dashboard's list of sources, polled by htmx while a sync is going on."""
    return render(request, "records/_sources.html", _sources_context(request.actor))


def _dashboard_summary(actor) -> dict:
    """What the dashboard shows of the records (not the sources, whose runs change while a sync
    goes on, nor the profile): computed once per data version (records.readmodels)."""
    records = queries.records_for(actor)
    counts = queries.category_counts(records)
    summary = {"counts": counts, "has_records": any(counts.values())}
    if summary["has_records"]:
        visits, _next = queries.page(records.filter(category=Category.ENCOUNTER), size=5)
        summary.update(
            problems=queries.active_problems(records),
            current_medications=queries.current_medications(records, limit=10),
            allergies=queries.latest_by_code(records, Category.ALLERGY),
            vitals=queries.latest_by_code(records, Category.VITAL),
            visits=visits,
        )
        listed = [
            *summary["problems"],
            *(line["latest"] for line in summary["current_medications"]),
            *summary["allergies"],
            *summary["vitals"],
            *visits,
        ]
        readmodels.slim(listed, keep_resource=listed)  # their sources, one object each
    return summary


@login_required
@require_GET
def dashboard(request):
    """The patient's home: problems, medications, allergies, vitals, visits, sources, counts."""
    context = {
        **_sources_context(request.actor),
        "profile": profile_for(request.actor),
        "categories": Category.choices,
        **readmodels.read(request.actor, "dashboard", lambda: _dashboard_summary(request.actor)),
    }
    return render(request, "records/dashboard.html", context)


@login_required
@require_POST
def download_all(request):
    """ "Download all my data": a ZIP of records, account facts and activity (POST: it is an
    audited action, not something a prefetching browser should trigger)."""
    return archive.download_response(request)


@login_required
@reauthentication_required(allow_get=True)
@require_http_methods(["GET", "POST"])
def delete_account(request):
    """Erase the account after a fresh password (or second factor) check and an explicit yes."""
    form = DeleteAccountForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        domain.delete_account(user=request.user, request=request)
        logout(request)
        messages.success(request, _("Your account and all your records have been deleted."))
        return redirect("landing")
    return render(request, "accounts/delete_account.html", {"form": form})
