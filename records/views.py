import functools

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponseBadRequest, StreamingHttpResponse
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


def _list_page(request, queryset, template, extra, *, filters=None, kept_as="", invalid=False):
    """A page of `queryset`; `kept_as`: the name of its first page among the read models
    (records.readmodels), for a list whose first page is the same for every request with the
    same URL query (a search: the same words): kept as its rendered HTML."""
    after = request.GET.get("after", "")
    if request.headers.get("HX-Request") and after:
        # The next page, appended by htmx.
        return render(request, "records/_rows.html", _list_context(request, queryset, after))
    if kept_as and not after:
        body = readmodels.rendered(
            request,
            "list",
            "records/_list.html",
            lambda: _list_context(request, queryset, "", filters=filters),
            part=f"{kept_as}?{request.GET.urlencode()}",  # its "more" link keeps the query
        )
        return render(request, template, {**extra, "body": body})
    return render(
        request,
        template,
        {**extra, **_list_context(request, queryset, after, filters=filters, invalid=invalid)},
    )


def _not_fetched(actor):
    """The names of the linked sources that have not completed a sync (records/
    _none_recorded.html), as a function the template calls when it shows an empty section
    (read once, and only then: functools.cache)."""
    return functools.cache(lambda: [name for _pk, name in queries.unfetched_sources(actor)])


def _list_context(request, queryset, after, *, filters=None, invalid=False) -> dict:
    records, next_cursor = queries.page(queryset, after=after)
    records = queries.merge_duplicates(records)
    context = {"records": records, "next_cursor": next_cursor, "query": request.GET.copy()}
    if not records:
        # An empty page explains itself: the filters matched nothing (offer to clear them), or
        # this kind of record is missing, or there are no records yet (link a hospital).
        context["filtered"] = invalid or (filters is not None and filters != queries.Filters())
        context["has_records"] = context["filtered"] or (
            queries.records_for(request.actor).exists()
        )
        context["not_fetched"] = _not_fetched(request.actor)
    return context


@login_required
@require_GET
def timeline(request):
    form = RecordFilterForm(
        request.GET or None,
        sources=readmodels.sources(request.actor),
    )
    filters = form.filters()
    if form.is_bound and not form.is_valid():
        # A filter that cannot be applied lists nothing under its errors, never every record
        # as if it had been (nor the kept first page of everything).
        return _list_page(
            request,
            queries.records_for(request.actor).none(),
            "records/timeline.html",
            {"form": form, "title": _("Timeline")},
            filters=filters,
            invalid=True,
        )
    queryset = queries.filtered(queries.records_for(request.actor), filters)
    return _list_page(
        request,
        queryset,
        "records/timeline.html",
        {
            "form": form,
            "title": _("Timeline"),
            "codes": ", ".join(queries.code_tokens(filters.code)),
        },
        filters=filters,
        kept_as="timeline" if filters == queries.Filters() else "",
    )


def _outside_scope(request, category: str) -> bool:
    """Whether the actor's grant leaves this kind of record out: its page is then not there
    for them (404, as for a share), never a page that reads "None recorded"."""
    categories = request.actor.scope.categories
    return bool(categories) and category not in categories


@login_required
@require_GET
def category(request, category):
    if category not in Category.values or _outside_scope(request, category):
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
        sources=readmodels.sources(request.actor),
    )
    filters = form.filters()
    if filters.text:
        return _list_page(
            request,
            queries.filtered(queries.records_for(request.actor), filters),
            "records/search.html",
            {"form": form, "title": _("Search"), "searched": True},
            filters=filters,
            kept_as="search",  # per query (in the key with the rest of the URL's query)
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
    if _outside_scope(request, Category.LAB):
        raise Http404
    tests = readmodels.labs_overview(request.actor)
    # None yet: say which linked sources have not completed a sync (their records may hold
    # some), never a bare "No lab results yet."
    not_fetched = [] if tests else readmodels.unfetched_names(request.actor)
    return render(request, "records/labs.html", {"tests": tests, "not_fetched": not_fetched})


@login_required
@require_GET
def lab_detail(request, code):
    if _outside_scope(request, Category.LAB):
        raise Http404
    # Its chart, values and explanation are kept as HTML per data version; the test's name
    # (the title) and whether the patient has it at all are a read model of their own.
    latest = readmodels.lab_latest(request.actor, code)
    if latest is None:
        raise Http404
    body = readmodels.rendered(
        request,
        "lab",
        "records/_lab_detail_body.html",
        lambda: readmodels.lab_detail(request.actor, code, keep=False),
        part=code,
    )
    return render(request, "records/lab_detail.html", {"latest": latest, "body": body})


@login_required
@require_GET
def vitals(request):
    if _outside_scope(request, Category.VITAL):
        raise Http404
    body = readmodels.rendered(
        request,
        "vitals",
        "records/_vital_panels.html",
        lambda: {"panels": readmodels.vital_panels(request.actor)},
    )
    return render(request, "records/vitals.html", {"body": body})


@login_required
@require_GET
def medications(request):
    if _outside_scope(request, Category.MEDICATION):
        raise Http404
    # Grouped by active ingredient across institutions (records.medications).
    # Once per data version and day (current or past depends on today's date).
    # Whether HIRA is linked is kept with it (linking or unlinking bumps the data version):
    # without HIRA only the hospitals' prescriptions are there, and the page says so.
    body = readmodels.rendered(
        request,
        "medications",
        "records/_medications_body.html",
        lambda: {
            **vars(medication_overview(queries.records_for(request.actor))),
            "hira_connected": "hira" in queries.linked_agencies(request.actor.patient_id),
        },
        part=timezone.localdate().isoformat(),
    )
    return render(request, "records/medications.html", {"body": body})


@login_required
@require_GET
def summary(request):
    """A patient summary (IPS-like) for printing, with its sources."""
    data_version = readmodels.version(request.actor.patient_id)
    return render(
        request,
        "records/summary.html",
        {
            "profile": profile_for(request.actor),
            **readmodels.summary_sections(request.actor, data_version=data_version),
            "not_fetched": readmodels.unfetched_names(request.actor, data_version=data_version),
        },
    )


@login_required
@require_GET
def summary_document(request):
    sections = queries.summary_sections(
        queries.records_for(request.actor), categories=request.actor.scope.categories
    )
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
        sources=readmodels.sources(request.actor),
    )
    if form.is_bound and not form.is_valid():
        # Never everything in place of what was asked for: the reasons, in words.
        reasons = [str(error) for errors in form.errors.values() for error in errors]
        return HttpResponseBadRequest(
            "\n".join([_("The filter cannot be applied:"), *reasons]),
            content_type="text/plain; charset=utf-8",
        )
    records = queries.filtered(queries.records_for(request.actor), form.filters())
    return export.export_for_patient(request, records)
