"""The patient's caregiver pages (invite, list, detail with every use, renew, revoke) and the
invitee's acceptance. Under /family/: never reachable for someone acting for the patient
(`sharing.delegation.REFUSED_PREFIXES`), and each view checks the actor is the patient."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.queries import patient_for
from audit.queries import acted_by, events_for
from records.models import Category
from sharing import caregivers, delegation, queries
from sharing.caregivers_forms import DurationForm, InviteForm
from sharing.models import DelegationKind

USES_SHOWN = 200


def _category_labels(grant) -> list[str]:
    return [str(Category(c).label) for c in grant.categories if c in Category.values]


def _own(request):
    """The patient acting on their own account (nobody acting for them reaches here)."""
    actor = request.actor
    if actor is None or not actor.is_patient:
        raise Http404
    return actor


@login_required
@require_GET
def caregiver_list(request):
    actor = _own(request)
    return render(
        request,
        "sharing/caregivers/list.html",
        {
            "given": queries.delegations_given(actor).filter(kind=DelegationKind.CAREGIVER),
            "held": delegation.held_by(request.user),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def caregiver_invite(request):
    actor = _own(request)
    patient = patient_for(actor, user=request.user)
    refused = None
    try:
        caregivers.check_may_invite(actor, patient)
    except ValidationError as error:
        refused = error.messages[0]
    form = InviteForm(
        request.POST if request.method == "POST" else None, actor=actor, patient=patient
    )
    if request.method == "POST" and refused is None and form.is_valid():
        data = form.cleaned_data
        try:
            grant, _token = caregivers.invite(
                actor=actor,
                patient=patient,
                email=data["email"],
                label=data["label"],
                purpose=data["purpose"],
                categories=data["categories"],
                sources=data["sources"],
                rights=data["rights"],
                expires_at=form.expires_at(),
                request=request,
            )
        except ValidationError as error:
            for field, errors in error.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            messages.success(
                request,
                _("The invitation is on its way to %(email)s.") % {"email": grant.invited_email},
            )
            return redirect("caregiver_detail", code=grant.code)
    return render(request, "sharing/caregivers/invite.html", {"form": form, "refused": refused})


@login_required
@require_GET
def caregiver_detail(request, code):
    actor = _own(request)
    grant = queries.delegation_given(actor, code, kind=DelegationKind.CAREGIVER)
    uses = events_for(actor).filter(extra__grant=grant.pk)[:USES_SHOWN]
    return render(
        request,
        "sharing/caregivers/detail.html",
        {
            "grant": grant,
            "grant_categories": _category_labels(grant),
            "rights": caregivers.rights_of(grant),
            "sources": list(grant.sources.select_related("institution")),
            "uses": uses,
            "renew_form": DurationForm(),
        },
    )


@login_required
@require_POST
def caregiver_revoke(request, code):
    actor = _own(request)
    grant = queries.delegation_given(actor, code, kind=DelegationKind.CAREGIVER)
    caregivers.revoke(grant=grant, actor=actor, request=request)
    messages.success(request, _("Their access has ended: they can no longer open your record."))
    return redirect("caregiver_detail", code=grant.code)


@login_required
@require_POST
def caregiver_renew(request, code):
    actor = _own(request)
    grant = queries.delegation_given(actor, code, kind=DelegationKind.CAREGIVER)
    form = DurationForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose for how long."))
        return redirect("caregiver_detail", code=grant.code)
    try:
        caregivers.renew(grant=grant, actor=actor, expires_at=form.expires_at(), request=request)
    except ValidationError as error:
        messages.error(request, error.messages[0])
    else:
        messages.success(request, _("Their access is renewed."))
    return redirect("caregiver_detail", code=grant.code)


@login_required
@require_http_methods(["GET", "POST"])
def caregiver_accept(request, token):
    """The invitee's page: who invites them, to what; accepting needs a POST (a mail
    scanner's GET accepts nothing)."""
    grant = caregivers.find_invitation(token)
    if grant is None:
        return render(request, "sharing/caregivers/invalid.html", status=404)
    if request.method == "POST":
        try:
            grant = caregivers.accept(token=token, user=request.user, request=request)
        except caregivers.NotAcceptable as refused:
            messages.error(request, refused.message)
        except PermissionDenied:
            raise Http404 from None
        else:
            messages.success(
                request,
                _("You can now open %(name)s’s record.")
                % {"name": delegation.display_name(grant.patient)},
            )
            return redirect(delegation.prefix_for(grant.patient.code) + "/dashboard/")
    return render(
        request,
        "sharing/caregivers/accept.html",
        {
            "grant": grant,
            "grant_categories": _category_labels(grant),
            "name": delegation.display_name(grant.patient),
            "rights": caregivers.rights_of(grant),
            "sources": caregivers.invitation_sources(grant),
        },
    )


@login_required
@require_GET
def acting_activity(request):
    """What the user did acting for others, "X acting for Y", on their own account (the
    patients see the same events in their "Who saw my data")."""
    actor = _own(request)
    events = acted_by(actor)
    names = delegation.names_for(request.user) if events else {}
    return render(
        request,
        "sharing/caregivers/acting.html",
        {"events": [(event, names.get(event.patient_id, "")) for event in events]},
    )
