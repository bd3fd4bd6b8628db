"""SMART Health Links (HL7 SMART Health Cards and Links IG, STU1) for shares.

A link is `shlink:/` + base64url(JSON {url, key, exp, flag, label, v}). `url` is our manifest
endpoint under a 256-bit random id; `key` is 32 random bytes that never reach our database. The
scope's FHIR Bundle is encrypted once, at creation, as JWE compact (alg dir, enc A256GCM,
cty application/fhir+json) with jwcrypto — so the file is the scope at the time of sharing.
"""

import base64
import datetime as dt
import hashlib
import json
import os
import secrets

from django.utils import timezone
from jwcrypto import jwe, jwk

from core import scopes
from core.access import ActorKind
from records import export
from records.queries import records_for
from sharing.grants import actor_for_share
from sharing.models import ShlFileLocation

FILE_LOCATION_SECONDS = 3600  # file locations expire within an hour (spec: short-lived)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def encrypt(plaintext: bytes, key: bytes) -> str:
    token = jwe.JWE(
        plaintext,
        protected=json.dumps({"alg": "dir", "enc": "A256GCM", "cty": "application/fhir+json"}),
    )
    token.add_recipient(jwk.JWK(kty="oct", k=b64url(key)))
    return token.serialize(compact=True)


def create_link(share, *, base_url: str) -> tuple[str, str]:
    """Encrypt the share's scope and return (manifest id, shlink URI). Neither is stored."""
    manifest_id = secrets.token_urlsafe(32)
    key = os.urandom(32)
    bundle = "".join(
        export.bundle_stream(
            records_for(actor_for_share(share, kind=ActorKind.SHL)),
            patient=share.patient,
            scoped=True,
        )
    ).encode()
    share.shl_file = encrypt(bundle, key)
    payload = {
        "url": f"{base_url.rstrip('/')}/shl/{manifest_id}",
        "key": b64url(key),
        "exp": int(share.expires_at.timestamp()),
        "label": share.label[:80],
        "v": 1,
    }
    if share.passcode_hash:
        payload["flag"] = "P"
    uri = "shlink:/" + b64url(json.dumps(payload, separators=(",", ":")).encode())
    return manifest_id, uri


def file_location(share, *, base_url: str, recipient: str = "") -> str:
    """A new location for the share's file, valid for FILE_LOCATION_SECONDS.

    256 random bits, of which only the hash is stored: it reveals nothing about the share, and
    reissuing the share deletes its locations. Side effects: a ShlFileLocation row (and the
    share's expired ones deleted).
    """
    token = secrets.token_urlsafe(32)
    now = timezone.now()
    ShlFileLocation.objects.filter(share=share, expires_at__lte=now).delete()
    ShlFileLocation.objects.create(
        share=share,
        token_hash=hashlib.sha256(token.encode()).hexdigest(),
        recipient_name=recipient[:200],
        expires_at=now + dt.timedelta(seconds=FILE_LOCATION_SECONDS),
    )
    return f"{base_url.rstrip('/')}/shl/file/{token}"


def find_location(token: str) -> ShlFileLocation | None:
    """The unexpired location behind a file URL's token, with its share (None otherwise)."""
    # The capability lookup: whose share it is, nobody knows yet (core.scopes).
    with scopes.scopes_disabled():
        return (
            ShlFileLocation.objects.select_related("share")
            .filter(
                token_hash=hashlib.sha256(token.encode()).hexdigest(), expires_at__gt=timezone.now()
            )
            .first()
        )
