from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.queries import profile_for
from institutions import domain, queries, windows
from institutions.forms import ConsentForm, DirectorySearchForm, ImportForm, UnlinkForm
from institutions.models import SourceStatus
from records.fhirfile import NotFHIR


@login_required
@require_GET
def directory(request):
    """Active institutions to link, searchable by name, region and type."""
    form = DirectorySearchForm(request.GET or None)
    filters = form.cleaned_data if form.is_valid() else {}
    institutions = queries.directory(
        q=filters.get("q", ""),
        region=filters.get("region", ""),
        type_code=filters.get("type_code", ""),
    )[:100]
    linked = set(queries.linked_sources(request.actor).values_list("institution_id", flat=True))
    return render(
        request,
        "institutions/directory.html",
        {"form": form, "institutions": institutions, "linked": linked},
    )


@login_required
@require_http_methods(["GET", "POST"])
def link(request, code):
    """The consent screen; on consent, find the patient there and start the first sync."""
    institution = get_object_or_404(queries.linkable(), code=code)
    form = ConsentForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            source = domain.link_institution(
                patient=queries.managing_patient(request.actor, user=request.user),
                institution=institution,
                request=request,
            )
        except domain.LinkError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(
                request,
                _("%(name)s is linked. Your records are on their way.")
                % {"name": institution.name},
            )
            return redirect("source_detail", code=source.code)
    return render(
        request,
        "institutions/consent.html",
        {
            "institution": institution,
            "form": form,
            "consent_version": domain.CONSENT_VERSION,
            # An agency sends what its window allows, not all history (institutions.windows).
            "window": windows.EXPLAINED.get(institution.kind),
        },
    )


@login_required
@require_GET
def national(request):
    """The three public agencies every verified patient can connect (NHIS, HIRA, KDCA): each
    one's data and window, linked or to connect (consent asked per agency)."""
    profile = profile_for(request.actor)
    linked = {
        source.institution_id: source
        for source in queries.linked_sources(request.actor)
        if source.institution_id
    }
    rows = [
        {
            "institution": institution,
            "source": linked.get(institution.pk),
            "window": windows.EXPLAINED[institution.kind],
        }
        for institution in queries.agencies()
    ]
    return render(
        request,
        "institutions/national.html",
        {"rows": rows, "verified": profile.is_verified, "may_manage": request.actor.may_manage},
    )


ISSUES_PER_PAGE = 50


def _source_context(request, source):
    runs = list(source.runs.all()[:5])
    latest = runs[0] if runs else None
    issues, issues_more = None, 0
    if latest is not None and latest.invalid:
        # Every resource the run could not keep, a page at a time (the run's own counter is
        # the total, so the page costs one query, not a COUNT over thousands of issues).
        paginator = Paginator(latest.issues.order_by("id"), ISSUES_PER_PAGE)
        paginator.count = latest.invalid  # each invalid resource was counted with its issue
        issues = paginator.get_page(request.GET.get("issues"))
        issues_more = latest.invalid - issues.end_index()
    return {
        "source": source,
        "run": latest,
        "runs": runs,
        "issues": issues,
        "issues_more": issues_more,
        "record_count": source.records.count(),
        "unlink_form": UnlinkForm(),
        # An agency keeps a window of its data (institutions.windows), said on its page.
        "window": windows.EXPLAINED.get(source.institution.kind) if source.institution_id else None,
    }


@login_required
@require_GET
def source_detail(request, code):
    source = queries.source_for(request.actor, code)
    return render(request, "institutions/source_detail.html", _source_context(request, source))


@login_required
@require_GET
def source_progress(request, code):
    """The progress fragment, polled by htmx while a run is going on."""
    source = queries.source_for(request.actor, code)
    run = source.runs.first()
    return render(
        request,
        "institutions/_progress.html",
        {"source": source, "run": run, "record_count": source.records.count()},
    )


@login_required
@require_POST
def source_sync(request, code):
    source = queries.source_for(request.actor, code)
    if source.status != SourceStatus.ACTIVE:
        messages.error(request, _("This source is unlinked: it is not synced any more."))
    else:
        _run, created = domain.trigger_sync(source=source, request=request)
        if not created:
            messages.info(request, _("A sync is already in progress."))
    return redirect("source_detail", code=source.code)


@login_required
@require_POST
def source_unlink(request, code):
    source = queries.source_for(request.actor, code)
    form = UnlinkForm(request.POST)
    if not form.is_valid() or source.status != SourceStatus.ACTIVE:
        return render(
            request,
            "institutions/source_detail.html",
            {**_source_context(request, source), "unlink_form": form},
        )
    if form.cleaned_data["purge"]:
        count = source.records.count()
        if not form.purge_confirmed(count):
            return render(
                request,
                "institutions/unlink_confirm.html",
                {
                    "source": source,
                    "count": count,
                    "deletes": domain.purge_warning(source=source, count=count),
                },
            )
    domain.unlink_source(source=source, purge=form.cleaned_data["purge"], request=request)
    if form.cleaned_data["purge"]:
        messages.success(
            request,
            _("%(name)s is unlinked and its records are deleted.") % {"name": source.display_name},
        )
    else:
        messages.success(
            request,
            _("%(name)s is unlinked. Its records stay until you delete them.")
            % {"name": source.display_name},
        )
    return redirect("dashboard")


@login_required
@require_http_methods(["GET", "POST"])
def import_file(request):
    """Upload a file; if it is already here or not the patient's, show why and ask first.

    Nothing is kept between the two steps: the patient chooses the file again with their
    decision, so a file they do not confirm is never stored.
    """
    form = ImportForm(*([request.POST, request.FILES] if request.method == "POST" else []))
    review = None
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            source = domain.import_file(
                patient=queries.managing_patient(request.actor, user=request.user),
                filename=upload.name,
                data=upload.read(),
                request=request,
                decision=form.cleaned_data["decision"],
                identity_confirmed=form.cleaned_data["confirm"],
            )
        except NotFHIR as exc:
            form.add_error("file", str(exc))
        except domain.ImportNeedsConfirmation as exc:
            review = exc.review
        else:
            messages.success(request, _("The file is being imported."))
            return redirect("source_detail", code=source.code)
    return render(request, "institutions/import.html", {"form": form, "review": review})
