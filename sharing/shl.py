"""SMART Health Links (HL7 SMART Health Cards and Links IG, STU1) for shares.

A link is `shlink:/` + base64url(JSON {url, key, exp, flag, label, v}). `url` is our manifest
endpoint under a 256-bit random id; `key` is 32 random bytes that never reach our database. The
scope's FHIR Bundle is encrypted once, at creation, as JWE compact (alg dir, enc A256GCM,
cty application/fhir+json) with jwcrypto — so the file is the scope at the time of sharing.
The file's short-lived locations are rows the domain writes (`sharing.domain.file_location`).
"""

import base64
import json
import os
import secrets

from jwcrypto import jwe, jwk

from core.access import ActorKind
from records import export
from records.queries import records_for
from sharing.grants import actor_for_share


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
