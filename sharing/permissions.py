"""The API's default permission: an authenticated user, whose patient's scope it enters.

Imported by DRF's settings while rest_framework.views is still loading: no imports of DRF views
here (circular import otherwise).
"""

from rest_framework.permissions import IsAuthenticated

from core import scopes


class ActsForPatient(IsAuthenticated):
    """IsAuthenticated, and the request's scope narrowed to the actor's patient.

    A token-authenticated API request (X-Session-Token) is anonymous to the middleware: DRF
    authenticates it inside the view, just before checking permissions — the first point at
    which its patient is known (see sharing.middleware.PatientScopeMiddleware).
    """

    def has_permission(self, request, view):
        if not super().has_permission(request, view):
            return False
        # The view's own actor (sharing.middleware), resolved now that DRF has authenticated.
        actor = request.actor
        if actor is not None:
            scopes.enter_patient(actor.patient_id)
        return True
