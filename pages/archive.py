""" "Download all my data" (the right of access): one ZIP with the records as a FHIR Bundle,
the account's own facts (profile, linked institutions, shares and who opened them) and the
full activity log."""

import json
import tempfile
import zipfile

from django.core.serializers.json import DjangoJSONEncoder
from django.http import FileResponse, Http404
from django.utils import timezone

from accounts.queries import patient_for, profile_for
from audit import domain as audit
from audit.api import AuditEventSerializer
from audit.models import Action
from audit.queries import events_for
from core.access import Actor
from institutions.queries import sources_for
from records.export import bundle_stream
from records.queries import records_for
from sharing.queries import shares_for

# Kept in memory up to this size, then spilled to a temporary file (a large record set must
# not hold a worker's memory).
SPOOL_BYTES = 8 * 1024 * 1024


def account_facts(actor: Actor, patient) -> dict:
    """What the account holds besides records: `patient` (the account `actor` acts for) and
    its profile, sources and shares with who opened them, through each model's scoped query."""
    profile = profile_for(actor)
    sources = sources_for(actor).order_by("id")
    shares = shares_for(actor).prefetch_related("accesses").order_by("id")
    return {
        "email": patient.email,
        "date_joined": patient.date_joined,
        "profile": {
            "full_name": profile.full_name,
            "birth_date": profile.birth_date,
            "sex": profile.sex,
            "phone": profile.phone,
            "identity_verified_at": profile.identity_verified_at,
        },
        "sources": [
            {
                "id": source.code,
                "name": source.display_name,
                "kind": source.kind,
                "status": source.status,
                "consent_at": source.consent_at,
            }
            for source in sources
        ],
        "shares": [
            {
                "id": share.code,
                "recipient": share.label,
                "purpose": share.purpose,
                "categories": share.categories,
                "created": share.created,
                "expires_at": share.expires_at,
                "revoked_at": share.revoked_at,
                "accesses": [
                    {
                        "when": access.at,
                        "action": access.action,
                        "name": access.recipient_name,
                        "what": access.what,
                        "ip": access.ip,
                    }
                    for access in share.accesses.all()
                ],
            }
            for share in shares
        ],
    }


def write_archive(actor: Actor, fileobj, *, patient) -> None:
    """Write the ZIP of what `actor` may read of `patient`'s account into `fileobj` (records
    streamed, never all in memory)."""
    with zipfile.ZipFile(fileobj, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        with archive.open("records.fhir.json", "w") as out:
            for chunk in bundle_stream(records_for(actor), actor=actor):
                out.write(chunk.encode())
        archive.writestr(
            "account.json",
            json.dumps(
                account_facts(actor, patient), cls=DjangoJSONEncoder, ensure_ascii=False, indent=2
            ),
        )
        events = events_for(actor).iterator(chunk_size=1000)
        with archive.open("activity.json", "w") as out:
            out.write(b"[")
            for index, event in enumerate(events):
                data = json.dumps(
                    AuditEventSerializer(event).data, cls=DjangoJSONEncoder, ensure_ascii=False
                )
                out.write(((",\n" if index else "\n") + data).encode())
            out.write(b"\n]\n")


def download_response(request) -> FileResponse:
    """The ZIP as a download; the download itself is audited first (and so is in the file).
    The patient's alone: it holds the account's facts, which no one acting for them reads
    (404; sharing.delegation refuses the route under /for/ too)."""
    actor = request.actor
    if actor is None or not actor.is_patient:
        raise Http404
    audit.record(action=Action.DATA_DOWNLOADED, request=request, patient=actor.patient_id)
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115 (FileResponse closes it)
    write_archive(actor, spool, patient=patient_for(actor, user=request.user))
    spool.seek(0)
    name = f"phr-my-data-{timezone.localdate():%Y%m%d}.zip"
    return FileResponse(spool, as_attachment=True, filename=name, content_type="application/zip")
