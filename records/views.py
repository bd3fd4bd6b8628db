from django.contrib.auth.decorators import login_required
from django.http import Http404, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from accounts.queries import patient_for, profile_for
from audit import domain as audit
from audit.models import Action
from records import export, fhirjson, narrative, queries, readmodels
from records.forms import RecordFilterForm
from records.medications import overview as medication_overview
from records.models import Category


def _first_page(queryset) -> dict:
    records, next_cursor = queries.page(queryset)
    readmodels.slim(records, keep_resource=records)  # their sources, one object each
    return {"records": queries.merge_duplicates(records), "next_cursor": next_cursor}


def _list_page(request, queryset, template, extra, *, filters=None, kept_as=""):
    """A page of `queryset`; `kept_as`: the name of its first page among the read models
    (records.readmodels), for a list whose first page is the same for every request."""
    after = request.GET.get("after", "")
    if kept_as and not after:
        listed = readmodels.read(request.actor, "list", lambda: _first_page(queryset), part=kept_as)
    else:
        records, next_cursor = queries.page(queryset, after=after)
        listed = {"records": queries.merge_duplicates(records), "next_cursor": next_cursor}
    records = listed["records"]
    context = {
        **extra,
        "records": records,
        "next_cursor": listed["next_cursor"],
        "query": request.GET.copy(),
    }
    if not records:
        # An empty page explains itself: the filters matched nothing (offer to clear them), or
        # this kind of record is missing, or there are no records yet (link a hospital).
        context["filtered"] = filters is not None and filters != queries.Filters()
        context["has_records"] = context["filtered"] or (
            queries.records_for(request.actor).exists()
        )
    if request.headers.get("HX-Request") and request.GET.get("after"):
        return render(request, "records/_rows.html", context)  # the next page, appended by htmx
    return render(request, template, context)


@login_required
@require_GET
def timeline(request):
    form = RecordFilterForm(
        request.GET or None,
        sources=queries.sources_of(queries.records_for(request.actor)),
    )
    filters = form.filters()
    queryset = queries.filtered(queries.records_for(request.actor), filters)
    return _list_page(
        request,
        queryset,
        "records/timeline.html",
        {"form": form, "title": _("Timeline")},
        filters=filters,
        kept_as="timeline" if filters == queries.Filters() else "",
    )


@login_required
@require_GET
def category(request, category):
    if category not in Category.values:
        raise Http404
    if category == Category.MEDICATION:
        return medications(request)
    queryset = queries.records_for(request.actor).filter(category=category)
    label = Category(category).label
    return _list_page(
        request,
        queryset,
        "records/category.html",
        {"category": category, "title": label},
        kept_as=f"category:{category}",
    )


@login_required
@require_GET
def search(request):
    form = RecordFilterForm(
        request.GET or None,
        sources=queries.sources_of(queries.records_for(request.actor)),
    )
    filters = form.filters()
    if filters.text:
        return _list_page(
            request,
            queries.filtered(queries.records_for(request.actor), filters),
            "records/search.html",
            {"form": form, "title": _("Search"), "searched": True},
            filters=filters,
        )
    return render(request, "records/search.html", {"form": form, "title": _("Search")})


@login_required
@require_GET
def record_detail(request, code):
    record = queries.record_for(request.actor, code)
    return render(request, "records/detail.html", narrative.detail_context(record))


@login_required
@require_GET
def labs(request):
    tests = readmodels.labs_overview(request.actor)
    return render(request, "records/labs.html", {"tests": tests})


@login_required
@require_GET
def lab_detail(request, code):
    context = readmodels.lab_detail(request.actor, code)
    if context is None:
        raise Http404
    return render(request, "records/lab_detail.html", context)


@login_required
@require_GET
def vitals(request):
    panels = readmodels.vital_panels(request.actor)
    return render(request, "records/vitals.html", {"panels": panels})


@login_required
@require_GET
def medications(request):
    # Grouped by active ingredient across institutions (records.medications).
    # Once per data version and day (current or past depends on today's date).
    # Whether HIRA is linked is kept with it (linking or unlinking bumps the data version):
    # without HIRA only the hospitals' prescriptions are there, and the page says so.
    meds = readmodels.read(
        request.actor,
        "medications",
        lambda: {
            **vars(medication_overview(queries.records_for(request.actor))),
            "hira_connected": "hira" in queries.linked_agencies(request.actor.patient_id),
        },
        part=timezone.localdate().isoformat(),
    )
    return render(request, "records/medications.html", meds)


@login_required
@require_GET
def summary(request):
    """A patient summary (IPS-like) for printing, with its sources."""
    return render(
        request,
        "records/summary.html",
        {
            "profile": profile_for(request.actor),
            "sections": readmodels.summary_sections(request.actor),
        },
    )


@login_required
@require_GET
def summary_document(request):
    sections = queries.summary_sections(queries.records_for(request.actor))
    queries.with_resources([record for records in sections.values() for record in records])
    audit.record(
        action=Action.RECORDS_EXPORTED,
        request=request,
        patient=request.actor.patient_id,
        extra={"kind": "summary"},
    )
    document = export.summary_document(
        patient=patient_for(request.actor, user=request.user),
        profile=profile_for(request.actor),
        sections=sections,
        records=queries.records_for(request.actor),
    )
    response = StreamingHttpResponse(
        [fhirjson.dumps(document)], content_type="application/fhir+json"
    )
    response["Content-Disposition"] = f'attachment; filename="{export.filename("phr-summary")}"'
    return response


@login_required
@require_GET
def export_fhir(request):
    """All records (or the timeline's filter) as a FHIR Bundle of the original resources."""
    form = RecordFilterForm(
        request.GET or None,
        sources=queries.sources_of(queries.records_for(request.actor)),
    )
    records = queries.filtered(queries.records_for(request.actor), form.filters())
    return export.export_for_patient(request, records)
