# Imported by DRF's settings while rest_framework.views is still loading: keep this module free
# of imports of DRF views, decorators or drf-spectacular (circular import otherwise).
from allauth.headless.contrib.rest_framework.authentication import XSessionTokenAuthentication


class SessionTokenAuthentication(XSessionTokenAuthentication):
    """allauth's headless session token (X-Session-Token), strict: a bad token is a 401.

    The parent lets invalid tokens fall through to anonymous (and so to 403); a script that
    sends a token wants to know that the token is the problem.
    """

    allow_invalid_session_tokens = False
