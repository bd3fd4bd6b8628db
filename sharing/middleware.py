"""Who is acting on this request: `request.actor`, resolved once, read by every layer's views.

The access layer resolves it because it owns the grants: a logged-in user acts as the patient
of their own records, or — under `/for/<patient's code>/…` — as a delegate (a guardian or a
caregiver) for the patient whose code the URL carries, through their active grant
(`sharing.delegation`). Views below read only `request.actor` and need no change. Anonymous
requests have no actor (None); share and SMART Health Link views build theirs from the link.
"""

import re

from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpResponseRedirect
from django.urls import get_script_prefix, set_script_prefix
from django.utils.functional import SimpleLazyObject

from audit import domain as audit
from audit.models import Action
from core import scopes
from core.access import Actor
from sharing import delegation as delegations
from sharing.grants import actor_for_delegation

FOR_PATH = re.compile(
    r"^/for/(?P<code>[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})(?P<rest>/.*)?$",
    # A UUID in any case, as the API's ?patient= takes it; the pages' links use lower case.
    re.IGNORECASE,
)


def actor_for_request(request) -> Actor | None:
    """The request's actor: the delegate's, when the URL named someone they act for (set by
    ActorMiddleware); else the logged-in user as the patient of their own records."""
    if getattr(request, "delegation", None) is not None:
        return request.delegated_actor
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return None
    return Actor.patient(user)


class ActorMiddleware:
    """Sets `request.actor`, lazily: resolved when a view first reads it, so that the API's
    token authentication (DRF sets `request.user` on the Django request when it
    authenticates, inside the view) has happened by then, and a request that never reads it
    costs nothing.

    Under `/for/<code>/…` (the web pages, session-authenticated): the prefix is taken off
    `path_info` (the route is the patient's own page), the user's active grant for that
    patient is looked up (one query; 404 when none), the actor is the delegate's, the script
    prefix keeps every link on the page for that person, and each page read is audited as
    "X acting for Y". `request.delegation` is the grant (None on one's own pages).
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.delegation = None
        match = FOR_PATH.match(request.path_info)
        if match is None:
            request.actor = SimpleLazyObject(lambda: actor_for_request(request))
            return self.get_response(request)
        return self._acting_for(request, match["code"].lower(), match["rest"] or "/")

    def _acting_for(self, request, code, rest):
        user = request.user
        if not user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if delegations.refused_for_delegate(rest):
            raise Http404
        grant = delegations.active_grant(user, code)
        if grant is None:
            delegations.forget(request, code)
            raise Http404
        if rest == "/":
            return HttpResponseRedirect(f"{delegations.prefix_for(code)}/dashboard/")
        # The scope's sources are read outside any patient's scope, like the grant.
        with scopes.scopes_disabled():
            actor = actor_for_delegation(grant, user=user)
        name = delegations.page_name(rest)
        if not delegations.may_open(actor, name):
            raise Http404
        request.delegation = grant
        request.delegated_actor = actor
        request.actor = actor
        request.path_info = rest
        own_prefix = get_script_prefix()
        request.own_script_prefix = own_prefix
        request.for_prefix = own_prefix.rstrip("/") + delegations.prefix_for(code)
        set_script_prefix(request.for_prefix + "/")
        try:
            response = self.get_response(request)
        finally:
            set_script_prefix(own_prefix)
        if (
            request.method in ("GET", "HEAD")
            and response.status_code == 200
            and name not in delegations.NOT_READS
        ):
            # A read by someone other than the patient, audited as any such read is.
            audit.record(
                action=Action.DELEGATE_VIEWED,
                request=request,
                patient=grant.patient_id,
                obj=grant,
                extra={"page": name},
            )
        return response


def _is_admin(request) -> bool:
    # The admin (staff only; its base class audits every read of a patient's data) reads
    # across patients. A non-staff user there keeps their own scope; the admin refuses them.
    if not request.path_info.startswith(ADMIN_PREFIX):
        return False
    user = getattr(request, "user", None)
    return user is not None and user.is_active and user.is_staff


ADMIN_PREFIX = "/admin/"


class PatientScopeMiddleware:
    """The runtime guard (core.scopes): every request runs in the scope of its actor's patient.

    After ActorMiddleware (and authentication). The logged-in patient's request sees their own
    rows only, a delegate's request (`/for/<code>/…`) the patient's they act for; an anonymous
    request sees nobody's, so a query the view did not scope raises ScopeError (a 500, never
    data) — a share or SMART Health Link view narrows the scope to the share's patient once it
    has found the share (`core.scopes.enter_patient`); an API request authenticated by token
    is scoped by `sharing.permissions.ActsForPatient` once DRF has authenticated it. The admin
    runs with scopes disabled. Reads the user (as the views do), not `request.actor`, which
    must stay unresolved until the API has authenticated.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if _is_admin(request):
            with scopes.scopes_disabled():
                return self.get_response(request)
        actor = actor_for_request(request)
        with scopes.patient_scope(actor.patient_id if actor is not None else None):
            return self.get_response(request)
