"""Who is acting on this request: `request.actor`, resolved once, read by every layer's views.

The access layer resolves it because it owns the grants: today a logged-in user acts as the
patient of their own records; a delegate acting for someone else (the Family issue) is resolved
here too, so the views below, which only read `request.actor`, need no change. Anonymous
requests have no actor (None); share and SMART Health Link views build theirs from the link.
"""

from django.utils.functional import SimpleLazyObject

from core import scopes
from core.access import Actor


def actor_for_request(request) -> Actor | None:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return None
    return Actor.patient(user)


class ActorMiddleware:
    """Sets `request.actor`, lazily: resolved when a view first reads it, so that the API's
    token authentication (DRF sets `request.user` on the Django request when it
    authenticates, inside the view) has happened by then, and a request that never reads it
    costs nothing."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.actor = SimpleLazyObject(lambda: actor_for_request(request))
        return self.get_response(request)


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
    rows only; an anonymous request sees nobody's, so a query the view did not scope raises
    ScopeError (a 500, never data) — a share or SMART Health Link view narrows the scope to the
    share's patient once it has found the share (`core.scopes.enter_patient`); an API request
    authenticated by token is scoped by `sharing.permissions.ActsForPatient` once DRF has
    authenticated it. The admin runs with scopes disabled. Reads the user (as the views do),
    not `request.actor`, which must stay unresolved until the API has authenticated.
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
