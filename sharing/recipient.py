"""The recipient's side of a share (no account): the link's pages under /s/, and the SMART
Health Link endpoints a viewer app calls. Everything read here is read as the share's actor."""

import functools
import json

from django.db.models import Prefetch, prefetch_related_objects
from django.http import Http404, HttpResponse, JsonResponse, QueryDict
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.queries import profile_for
from core import scopes
from institutions.models import Source
from records import export, narrative, readmodels
from records import queries as record_queries
from records.models import Category
from records.queries import records_for
from sharing import domain
from sharing.forms import PasscodeForm, RecipientForm
from sharing.grants import actor_for_share
from sharing.models import AccessAction

# --- The recipient's side (no account) -----------------------------------------------------


def recipient_page(view):
    """Headers of every page under /s/: no referrer leaks the token, nothing is cached or indexed.

    CSRF protection is off here on purpose: every request carries the link's secret token in its
    path, so a forged cross-site request cannot name a share; and Referrer-Policy: no-referrer
    makes browsers send `Origin: null`, which Django's CSRF check would refuse.
    """

    # The path's secret token is the capability (see above):
    @functools.wraps(view)  # nosemgrep: csrf-exempt
    @csrf_exempt
    def wrapper(request, token, *args, **kwargs):
        response = view(request, token, *args, **kwargs)
        response["Referrer-Policy"] = "no-referrer"
        response["Cache-Control"] = "no-store, max-age=0"
        response["X-Robots-Tag"] = "noindex, nofollow"
        return response

    return wrapper


def not_available(request):
    """One answer for unknown, expired, revoked and locked links: nothing tells them apart."""
    return render(request, "sharing/not_available.html", status=404)


def _state(request, share) -> dict:
    return request.session.setdefault(f"sharing:{share.pk}", {})


def _scope_notes(share) -> dict:
    """What the scope leaves out, in words, so that a clinician never reads "none recorded" for
    something that was simply not shared."""
    notes = [
        _("Shared: %(categories)s.")
        % {"categories": ", ".join(share.category_labels) or _("all kinds of records")}
    ]
    sources = [source.display_name for source in share.sources.all()]
    if sources:
        notes.append(
            _("Only records from %(institutions)s were shared.")
            % {"institutions": ", ".join(sources)}
        )
    # ISO dates: unambiguous in both languages.
    if share.date_from and share.date_to:
        notes.append(
            _("Only records dated %(from)s – %(to)s were shared.")
            % {"from": share.date_from.isoformat(), "to": share.date_to.isoformat()}
        )
    elif share.date_from:
        notes.append(
            _("Only records dated from %(date)s were shared.")
            % {"date": share.date_from.isoformat()}
        )
    elif share.date_to:
        notes.append(
            _("Only records dated until %(date)s were shared.")
            % {"date": share.date_to.isoformat()}
        )
    return {
        "scope_notes": notes,
        "scope_limited": bool(sources or share.date_from or share.date_to),
        "not_shared": {c for c in Category.values if not share.shares_category(c)},
    }


def _listing(actor, category: str, *, after: str = "") -> dict:
    """The scope's counts per category and a page of its records (of `category`, or all)."""
    scoped = records_for(actor)
    rows, next_cursor = record_queries.page(
        scoped.filter(category=category) if category else scoped, after=after
    )
    readmodels.slim(rows, keep_resource=rows)  # their sources, one object each (for the cache)
    return {
        "counts": record_queries.category_counts(scoped),
        "rows": record_queries.merge_duplicates(rows),
        "next_cursor": next_cursor,
    }


def scope_context(request, share, *, actor, preview=False, category="", data_version=None):
    """What the recipient's overview and category pages show of `share`, read as `actor`
    (`data_version`: as readmodels.read's)."""
    after = request.GET.get("after", "")
    if after:  # a later page: read as it is asked for
        listed = _listing(actor, category, after=after)
    else:  # the counts and first page, once per data version of the scope (records.readmodels)
        listed = readmodels.read(
            actor,
            "share-list",
            lambda: _listing(actor, category),
            part=category,
            data_version=data_version,
        )
    counts, rows, next_cursor = listed["counts"], listed["rows"], listed["next_cursor"]
    profile = profile_for(actor)
    today = timezone.localdate()
    age = None
    if profile.birth_date:
        born = profile.birth_date
        age = today.year - born.year - ((today.month, today.day) < (born.month, born.day))
    return {
        "share": share,
        "profile": profile,
        "age": age,
        "preview": preview,
        "category": category,
        "counts": [(c, label, counts[c]) for c, label in Category.choices if counts[c]],
        "records": rows,
        "next_cursor": next_cursor,
        "query": request.GET.copy(),
        "share_mode": True,
        **_scope_notes(share),
    }


@recipient_page
@require_http_methods(["GET", "POST"])
def share_entry(request, token):
    """The link: passcode (if any), then the recipient's name, then the shared records."""
    share = domain.find_active(token)
    if share is None:
        return not_available(request)
    scopes.enter_patient(share.patient_id)  # the rest of the view reads this patient's rows only
    state = _state(request, share)
    if share.has_passcode and not state.get("passcode_ok"):
        form = PasscodeForm(request.POST if request.method == "POST" else None)
        if request.method == "POST" and form.is_valid():
            attempt = domain.check_passcode(
                share=share, passcode=form.cleaned_data["passcode"], request=request
            )
            if attempt.accepted:
                state["passcode_ok"] = True
                request.session.modified = True
                return redirect("share_entry", token=token)
            if attempt.remaining == 0:  # locked before this attempt, or by it
                return not_available(request)
            form.add_error(
                "passcode",
                ngettext(
                    "Wrong passcode. %(left)d attempt left before the link locks.",
                    "Wrong passcode. %(left)d attempts left before the link locks.",
                    attempt.remaining,
                )
                % {"left": attempt.remaining},
            )
        return render(request, "sharing/recipient/passcode.html", {"form": form, "share": share})
    if not state.get("name"):
        form = RecipientForm(request.POST if request.method == "POST" else None)
        if request.method == "POST" and form.is_valid():
            state["name"] = form.cleaned_data["name"]
            request.session.modified = True
            domain.record_access(
                share=share, action=AccessAction.OPENED, request=request, name=state["name"]
            )
            return redirect("share_entry", token=token)
        return render(request, "sharing/recipient/name.html", {"form": form, "share": share})
    return _view(request, token, share, state, category="")


def _record_viewed(request, share, state, *, what: str) -> None:
    domain.record_access(
        share=share, action=AccessAction.VIEWED, request=request, name=state["name"], what=what
    )


def _view(request, token, share, state, *, category):
    if not request.headers.get("HX-Request"):
        _record_viewed(request, share, state, what=category or "summary")
    # The scope's sources, read once for its ids (the actor) and its names (the notes).
    prefetch_related_objects(
        [share], Prefetch("sources", Source.objects.select_related("institution"))
    )
    actor = actor_for_share(share, recipient=state["name"])
    data_version = readmodels.version(share.patient_id)  # one read for the page's two parts
    context = {
        **scope_context(request, share, actor=actor, category=category, data_version=data_version),
        "token": token,
        "recipient": state["name"],
    }
    if request.headers.get("HX-Request") and request.GET.get("after"):
        return render(request, "records/_rows.html", context)  # the next rows only

    def records_context():
        # The summaries, once per data version of the scope (records.readmodels).
        # The "more" link carries no other parameter of this URL: a link holder's query (a
        # token pasted into it, say) is neither kept in the cache nor in a key.
        shown = {**context, "token": TOKEN_PLACEHOLDER, "query": QueryDict()}
        if not category:
            shown.update(readmodels.summary_sections(actor))
        elif category == Category.LAB:
            shown["tests"] = readmodels.labs_overview(actor)
        elif category == Category.VITAL:
            shown["panels"] = readmodels.vital_panels(actor)
        return shown

    # Kept as HTML like the patient's pages, per scope (the actor's), and per what else it
    # shows: the category, explanations or not. The link's token is not kept in the cache: the
    # HTML holds a placeholder, replaced for this request.
    body = readmodels.rendered(
        request,
        "share-view",
        "sharing/recipient/_records.html",
        records_context,
        part=f"{category}|{share.include_explanations}",
        actor=actor,
        data_version=data_version,
    )
    html = body.replace(TOKEN_PLACEHOLDER, token)  # our HTML, with the URL-safe token put in
    context["body"] = mark_safe(html)  # nosemgrep: mark-safe-on-non-literal  # noqa: S308  # nosec B308 B703
    return render(request, "sharing/recipient/view.html", context)


# Stands for the link's token in the kept HTML (URL-safe; a record's own text would have to
# hold it verbatim to be mistaken for it).
TOKEN_PLACEHOLDER = "share-token-placeholder-7f3a"  # noqa: S105  # nosec B105 (not a secret)


def _ready(request, token):
    share = domain.find_active(token)
    if share is None:
        return None, None
    scopes.enter_patient(share.patient_id)  # the rest of the view reads this patient's rows only
    state = _state(request, share)
    if (share.has_passcode and not state.get("passcode_ok")) or not state.get("name"):
        return share, None
    return share, state


def _admitted(view):
    """A page of the link behind its entry: `view` gets the share and the recipient's state
    (keywords `share`, `state`) once they are past the passcode, if any, and have given their
    name; before that the answer is the link's entry, and for a link not active not_available."""

    @functools.wraps(view)
    def wrapper(request, token, *args, **kwargs):
        share, state = _ready(request, token)
        if share is None:
            return not_available(request)
        if state is None:
            return redirect("share_entry", token=token)
        return view(request, token, *args, share=share, state=state, **kwargs)

    return wrapper


@recipient_page
@require_GET
def share_category(request, token, category):
    share, state = _ready(request, token)
    if share is None or category not in Category.values:
        return not_available(request)
    if state is None:
        return redirect("share_entry", token=token)
    if not share.shares_category(category):
        # Outside the scope: the answer of an unknown link, and nothing logged as viewed.
        return not_available(request)
    return _view(request, token, share, state, category=category)


@recipient_page
@require_GET
@_admitted
def share_record(request, token, code, *, share, state):
    """One record of the scope, as the patient's own detail page shows it (404 outside it)."""
    try:
        record = record_queries.record_for(actor_for_share(share, recipient=state["name"]), code)
    except Http404:
        return not_available(request)
    _record_viewed(request, share, state, what=f"record {record.category}")
    return render(
        request,
        "sharing/recipient/record.html",
        {"share": share, "token": token, "share_mode": True, **narrative.detail_context(record)},
    )


@recipient_page
@require_GET
@_admitted
def share_lab(request, token, code, *, share, state):
    """One test's trend chart across institutions, within the share's scope."""
    # The patient's own lab page's context, within the scope (the chart coloured by the
    # share's sources, as on its vital signs charts), once per data version of the scope.
    lab = readmodels.lab_detail(actor_for_share(share, recipient=state["name"]), code)
    if lab is None:
        return not_available(request)
    _record_viewed(request, share, state, what=f"lab {code}")
    return render(
        request,
        "sharing/recipient/lab.html",
        {"share": share, "token": token, "share_mode": True, **lab},
    )


@recipient_page
@require_GET
@_admitted
def share_download(request, token, *, share, state):
    if not share.allow_download:
        return not_available(request)
    domain.record_access(
        share=share, action=AccessAction.DOWNLOADED, request=request, name=state["name"]
    )
    return export.bundle_response(
        records_for(actor_for_share(share, recipient=state["name"])),
        prefix="shared-records",
        scoped=True,
    )


# --- SMART Health Links --------------------------------------------------------------------


def _shl_headers(response):
    response["Cache-Control"] = "no-store, max-age=0"
    response["Referrer-Policy"] = "no-referrer"
    return response


# An SHL manifest is POSTed by any conforming viewer (another origin, no session, no cookie):
# the 256-bit manifest id in the path is the capability, so CSRF protection does not apply.
@csrf_exempt  # nosemgrep: csrf-exempt
@require_POST
def shl_manifest(request, manifest_id):
    """SHL manifest: POST {recipient, passcode} → the file list (404 inactive, 401 bad passcode)."""
    share = domain.find_active_link(manifest_id)
    if share is None:
        return _shl_headers(JsonResponse({"error": "not available"}, status=404))
    scopes.enter_patient(share.patient_id)  # the rest of the view reads this patient's rows only
    try:
        body = json.loads(request.body or b"{}")
    except ValueError:
        body = None
    if not isinstance(body, dict) or not str(body.get("recipient", "")).strip():
        return _shl_headers(JsonResponse({"error": "A recipient is required."}, status=400))
    recipient = str(body["recipient"]).strip()[:200]
    if share.has_passcode:
        attempt = domain.check_passcode(
            share=share, passcode=str(body.get("passcode", "")), request=request
        )
        if not attempt.checked:  # locked (or ended) before this attempt: inactive
            return _shl_headers(JsonResponse({"error": "not available"}, status=404))
        if not attempt.accepted:
            # The attempt that reaches the cap still answers 401 {"remainingAttempts": 0}, as
            # the SHL specification asks; the next ones find the link inactive (404).
            return _shl_headers(JsonResponse({"remainingAttempts": attempt.remaining}, status=401))
    domain.record_access(
        share=share,
        action=AccessAction.OPENED,
        request=request,
        name=recipient,
        what="SMART Health Link",
    )
    base = request.build_absolute_uri("/")
    files = [
        {
            "contentType": "application/fhir+json",
            "location": domain.file_location(share, base_url=base, recipient=recipient),
        }
    ]
    return _shl_headers(JsonResponse({"files": files}))


@require_GET
def shl_file(request, location):
    """An SHL file (JWE compact), at a location that expires within an hour."""
    found = domain.find_active_file(location)
    if found is None:
        return _shl_headers(JsonResponse({"error": "not available"}, status=404))
    scopes.enter_patient(found.share.patient_id)  # the rest reads this patient's rows only
    domain.record_access(
        share=found.share,
        action=AccessAction.DOWNLOADED,
        request=request,
        name=found.recipient_name,  # given in the manifest request that handed out the location
        what="SMART Health Link",
    )
    return _shl_headers(HttpResponse(found.share.shl_file, content_type="application/jose"))
