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
    counts = readmodels.record_counts_by_source(actor)
    for source in sources:
        source.latest_run = runs.get(source.latest_run_id)
        source.record_count = counts.get(source.pk, 0)
    active = any(source.latest_run and source.latest_run.is_active for source in sources)
    return {"sources": sources, "any_active": active}


@login_required
@require_GET
def dashboard_sources(request):
    """The dashboard's list of sources, polled by htmx while a sync is going on."""
    return render(request, "records/_sources.html", _sources_context(request.actor))


def _dashboard_summary(actor) -> dict:
    """What the dashboard shows of the records (not the sources, whose runs change while a sync
    goes on, nor the profile): rendered once per data version (records.readmodels)."""
    records = queries.records_for(actor)
    counts = queries.category_counts(records)
    summary = {"counts": counts, "has_records": any(counts.values())}
    if summary["has_records"]:
        visits, _next = queries.page(records.filter(category=Category.ENCOUNTER), size=5)
        summary.update(
            problems=queries.active_problems(records),
            current_medications=queries.current_medications(records),  # ten shown, "and N more"
            allergies=queries.latest_by_code(records, Category.ALLERGY, uncoded=True),
            vitals=queries.latest_by_code(records, Category.VITAL),
            visits=visits,
        )
    return summary


@login_required
@require_GET
def dashboard(request):
    """The patient's home: problems, medications, allergies, vitals, visits, sources, counts."""
    summary = readmodels.rendered(
        request,
        "dashboard",
        "records/_dashboard_records.html",
        lambda: {**_dashboard_summary(request.actor), "categories": Category.choices},
    )
    context = {
        **_sources_context(request.actor),
        "profile": profile_for(request.actor),
        "records_summary": summary,
        "has_records": bool(summary.strip()),
        # Someone acting for the patient without the right to manage links nothing and sees
        # no sources (institutions.queries.sources_for): no steps or links they cannot take.
        "may_manage": request.actor.may_manage,
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
