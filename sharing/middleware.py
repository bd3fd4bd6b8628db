"""Who is acting on this request: `request.actor`, resolved once, read by every layer's views.

The access layer resolves it because it owns the grants: today a logged-in user acts as the
patient of their own records; a delegate acting for someone else (the Family issue) is resolved
here too, so the views below, which only read `request.actor`, need no change. Anonymous
requests have no actor (None); share and SMART Health Link views build theirs from the link.
"""

from django.utils.functional import SimpleLazyObject

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
