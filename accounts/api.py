from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.decorators import api_view
from rest_framework.response import Response

from accounts.authentication import SessionTokenAuthentication
from accounts.queries import profile_for


class SessionTokenScheme(OpenApiAuthenticationExtension):
    target_class = SessionTokenAuthentication
    name = "sessionToken"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "header", "name": "X-Session-Token"}


class MeSerializer(serializers.Serializer):
    email = serializers.EmailField()
    full_name = serializers.CharField()
    identity_verified = serializers.BooleanField()


@extend_schema(responses=MeSerializer)
@api_view(["GET"])
def me(request):
    """The logged-in account: e-mail, name and whether identity is verified."""
    profile = profile_for(request.actor)
    data = {
        "email": request.user.email,
        "full_name": profile.full_name,
        "identity_verified": profile.is_verified,
    }
    return Response(MeSerializer(data).data)
