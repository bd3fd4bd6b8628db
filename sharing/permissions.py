"""The API's default permission: an authenticated user, whose patient's scope it enters — their
own, or, with `?patient=<code>`, that of someone they act for under an active grant.

Imported by DRF's settings while rest_framework.views is still loading: no imports of DRF views
here (circular import otherwise), and the access layer's modules are imported inside the
method (they import models, which DRF's settings may be read before).
"""

from rest_framework.exceptions import NotFound
from rest_framework.permissions import IsAuthenticated

from core import scopes

PATIENT_PARAM = "patient"


class ActsForPatient(IsAuthenticated):
    """IsAuthenticated, and the request's scope narrowed to the actor's patient.

    A token-authenticated API request (X-Session-Token) is anonymous to the middleware: DRF
    authenticates it inside the view, just before checking permissions — the first point at
    which its patient is known (see sharing.middleware.PatientScopeMiddleware).

    `?patient=<the patient's User.code>` acts for that patient: the caller's active grant
    for them (a guardian's, a caregiver's) is looked up (one query), the actor is the
    delegate's within the grant's scope, and its rights gate the route as on the web
    (`sharing.delegation.may_open`: managing routes need "manage", shares need "share").
    No grant, an expired or revoked one, a route it does not open, or a malformed code: 404,
    as for anything else that is not the caller's. The caller's own code is their own record.
    """

    def has_permission(self, request, view):
        if not super().has_permission(request, view):
            return False
        code = request.GET.get(PATIENT_PARAM)  # DRF's query_params is this same QueryDict
        if code is not None and code.lower() != str(request.user.code):
            self._act_for(request, code)
        # The view's own actor (sharing.middleware), resolved now that DRF has authenticated.
        actor = request.actor
        if actor is not None:
            scopes.enter_patient(actor.patient_id)
        return True

    def _act_for(self, request, code: str) -> None:
        # Not a cycle: the access layer's modules import models and audit, never DRF's views.
        import uuid

        from audit import domain as audit
        from audit.models import Action
        from sharing import delegation
        from sharing.grants import actor_for_delegation

        try:
            code = uuid.UUID(code)
        except ValueError:
            raise NotFound from None
        grant = delegation.active_grant(request.user, code)
        if grant is None:
            raise NotFound
        with scopes.scopes_disabled():
            actor = actor_for_delegation(grant, user=request.user)
        match = request._request.resolver_match
        name = match.url_name if match is not None else ""
        if not delegation.may_open(actor, name):
            raise NotFound
        django_request = request._request
        django_request.delegation = grant
        django_request.delegated_actor = actor
        django_request.actor = actor
        if request.method in ("GET", "HEAD"):
            # A read by someone other than the patient, audited as any such read is.
            audit.record(
                action=Action.DELEGATE_VIEWED,
                request=django_request,
                patient=grant.patient_id,
                obj=grant,
                extra={"page": name},
            )
