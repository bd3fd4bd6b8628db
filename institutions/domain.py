"""What happens to institutions and sources: onboarding, linking with consent, unlinking, import."""

import logging

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop, ngettext

from accounts.queries import profile_for
from audit import domain as audit
from audit.models import Action
from core.access import Actor
from institutions import fhir_client, imports, sync
from institutions.messages import Message
from institutions.messages import message as stored
from institutions.models import (
    Institution,
    InstitutionStatus,
    RunTrigger,
    Source,
    SourceKind,
    SourceStatus,
    SyncRun,
    Upload,
)
from records import readmodels
from records.fhirfile import NotFHIR
from records.models import Record

logger = logging.getLogger(__name__)
# The consent text's version: stored with each consent so we know what the patient agreed to.
CONSENT_VERSION = "2026-11"
CONSENT_SCOPE = {"resources": "all", "since": "all available history"}


class LinkError(Exception):
    """Linking cannot go ahead; the message says why, in words for the patient."""


class PatientNotFound(LinkError):
    pass


# --- Operators ---------------------------------------------------------------------------


def test_connection(*, institution: Institution, request=None) -> bool:  # noqa: PT028
    """Get a token, read /metadata, check FHIR 4.0.x; record the result in words.

    Side effects: updates the institution's capability facts and test result; an audit event
    when an operator asked for it (`request`: the bulk action and the institution's page).
    """
    try:
        with fhir_client.FHIRClient(institution) as client:
            statement = client.capability()
    except fhir_client.FHIRError as exc:
        ok, message = False, exc.message
    else:
        version = str(statement.get("fhirVersion", ""))
        resources = [
            r.get("type")
            for rest in statement.get("rest", [])
            for r in rest.get("resource", [])
            if r.get("type")
        ]
        everything = any(
            op.get("name") == "everything"
            for rest in statement.get("rest", [])
            for r in rest.get("resource", [])
            if r.get("type") == "Patient"
            for op in r.get("operation", [])
        )
        institution.fhir_version = version
        institution.resource_types = resources
        institution.supports_everything = everything
        if statement.get("resourceType") != "CapabilityStatement":
            ok, message = (
                False,
                stored(gettext_noop("The /metadata address did not return a CapabilityStatement.")),
            )
        elif not version.startswith("4.0"):
            ok, message = (
                False,
                stored(
                    gettext_noop("The server speaks FHIR %(version)s; PHR needs FHIR R4 (4.0.x).")
                )
                % {"version": version or "?"},
            )
        else:
            ok = True
            message = stored(
                gettext_noop(
                    "Connected. FHIR %(version)s, %(count)d resource types, %(everything)s."
                )
            ) % {
                "version": version,
                "count": len(resources),
                "everything": stored(gettext_noop("Patient/$everything supported"))
                if everything
                else stored(gettext_noop("no $everything: per-type search will be used")),
            }
    if not isinstance(message, Message):  # a FHIRError's message given as text
        message = Message(str(message))
    institution.test_ok, institution.test_message = ok, str(message)
    institution.test_result = message.to_json()
    institution.tested_at = timezone.now()
    institution.save()
    if request is not None:
        audit.record(
            action=Action.INSTITUTION_CHANGED,
            request=request,
            obj=institution,
            extra={"connection_test": "ok" if ok else "failed"},
        )
    return ok


def set_status(*, institution: Institution, status: str, actor=None, request=None) -> None:
    """Activate or suspend an institution (activation requires a successful connection test)."""
    if status == InstitutionStatus.ACTIVE and not institution.test_ok:
        raise LinkError(_("Test the connection successfully before activating the institution."))
    institution.status = status
    institution.save(update_fields=["status", "updated"])
    audit.record(
        action=Action.INSTITUTION_CHANGED,
        request=request,
        actor=actor,
        obj=institution,
        extra={"status": status},
    )


# --- Patients ----------------------------------------------------------------------------


def _acting(request, patient):
    """Who did it: the logged-in user of the request (the patient, or a guardian acting for
    them, whom audit.record then writes as "X acting for Y"), else the patient."""
    user = getattr(request, "user", None)
    return user if user is not None and user.is_authenticated else patient


def link_institution(*, patient, institution: Institution, request=None) -> Source:
    """Link the patient to an institution with their consent, and start the first sync.

    Finds the patient at the institution by their verified identifier (one quick request;
    the records themselves are pulled by a worker). Raises LinkError / PatientNotFound.
    Side effects: a Source with the consent, an audit event, a queued SyncRun.
    """
    profile = profile_for(Actor.patient(patient))
    if not profile.is_verified:
        raise LinkError(_("Verify your identity first: hospitals find your records by it."))
    if not institution.is_active:
        raise LinkError(_("This institution is not available for linking."))
    if Source.objects.filter(
        patient=patient, institution=institution, status=SourceStatus.ACTIVE
    ).exists():
        raise LinkError(_("You have already linked this institution."))
    try:
        with fhir_client.FHIRClient(institution) as client:
            patient_ref = client.find_patient(profile.verified_identifier)
    except fhir_client.FHIRError as exc:
        logger.warning("link lookup failed institution=%s: %s", institution.pk, exc.detail)
        raise LinkError(
            _("%(name)s could not be reached just now. Please try again in a few minutes.")
            % {"name": institution.name}
        ) from None
    if patient_ref is None:
        raise PatientNotFound(
            _(
                "%(name)s has no records under your verified identity. This usually means the "
                "name, birth date or mobile number registered there differs from yours — check "
                "them with the hospital, or verify your identity again if they changed."
            )
            % {"name": institution.name}
        )
    with transaction.atomic():
        source = Source.objects.create(
            patient=patient,
            kind=SourceKind.INSTITUTION,
            institution=institution,
            consent_at=timezone.now(),
            consent_scope=CONSENT_SCOPE,
            consent_version=CONSENT_VERSION,
            patient_ref=patient_ref,
        )
        audit.record(
            action=Action.SOURCE_LINKED,
            request=request,
            actor=_acting(request, patient),
            patient=patient,
            obj=source,
            extra={"consent_version": CONSENT_VERSION},
        )
        sync.request_sync(source=source, trigger=RunTrigger.LINK)
        # The national pages say which agencies are linked (records.queries.linked_agencies):
        # the read models that carry it start again.
        readmodels.bump(patient_id=patient.pk)
    return source


def trigger_sync(
    *, source: Source, request=None, trigger: str = RunTrigger.PATIENT
) -> tuple[SyncRun, bool]:
    """Sync a source now (a no-op returning the active run if one is queued or running)."""
    run, created = sync.request_sync(source=source, trigger=trigger)
    audit.record(
        action=Action.SYNC_REQUESTED,
        request=request,
        patient=source.patient_id,
        obj=source,
        extra={"new_run": created},
    )
    return run, created


def purge_warning(*, source: Source, count: int) -> str:
    """What unlinking with `purge` deletes, said before it is done (the page and the API)."""
    return ngettext(
        "This deletes %(count)s record from %(name)s.",
        "This deletes %(count)s records from %(name)s.",
        count,
    ) % {"count": count, "name": source.display_name}


def unlink_source(*, source: Source, purge: bool, request=None) -> None:
    """Stop syncing a source (consent withdrawn); with `purge`, delete every record from it.

    Side effects: the source is marked unlinked (or deleted with its records when purged);
    waiting runs end; a running run stops at its next page; audit events.
    """
    with transaction.atomic():
        source.status = SourceStatus.UNLINKED
        source.unlinked_at = timezone.now()
        source.save(update_fields=["status", "unlinked_at"])
        source.runs.filter(status="queued").update(
            status="failed",
            finished_at=timezone.now(),
            error=_("Stopped: the source was unlinked."),
        )
        audit.record(
            action=Action.SOURCE_UNLINKED,
            request=request,
            patient=source.patient_id,
            obj=source,
            extra={"purge": purge},
        )
        # The summaries change with a purge; the national pages say which agencies are linked.
        readmodels.bump(patient_id=source.patient_id)
        if purge:
            # The purged records' summaries and pages leave the cache once this commits.
            patient_id = source.patient_id
            transaction.on_commit(lambda: readmodels.forget(patient_id=patient_id))
            deleted, _per_model = Record.objects.filter(source=source).delete()
            audit.record(
                action=Action.SOURCE_PURGED,
                request=request,
                patient=source.patient_id,
                obj=source,
                extra={"records": deleted},
            )


class ImportNeedsConfirmation(Exception):
    """The file is already (partly) imported, or not the patient's: `review` says what to ask."""

    def __init__(self, review: imports.ImportReview):
        super().__init__("import needs the patient's decision")
        self.review = review


def import_file(
    *,
    patient,
    filename: str,
    data: bytes,
    request=None,
    decision: str = "",
    identity_confirmed: bool = False,
) -> Source:
    """Accept an uploaded FHIR file as a source of its own and queue its import.

    Nothing is stored until the patient has decided what `imports.review_import` finds: a file
    already imported (or resources already held) needs `decision` — "import" (alongside; the
    resources PHR already holds are not stored twice) or "replace" (the earlier imports are
    removed with their records); a file about someone else or nobody needs
    `identity_confirmed`. Otherwise raises ImportNeedsConfirmation with the review.
    Raises NotFHIR (with a message) for a file that is not FHIR or too large; invalid resources
    inside a valid file are reported one by one by the run. Side effects: Source, Upload,
    SyncRun, audit events (the import; the identity confirmation; replaced sources purged).
    """
    if len(data) > settings.PHR_UPLOAD_MAX_BYTES:
        raise NotFHIR(
            _("The file is %(size)d MB; the limit is %(limit)d MB.")
            % {"size": len(data) // 2**20, "limit": settings.PHR_UPLOAD_MAX_BYTES // 2**20}
        )
    with transaction.atomic():
        # Patient row lock: the review is a check-then-create, which two uploads of the same
        # file at once (a double click, two tabs) would both pass, storing it twice.
        get_user_model().objects.select_for_update().filter(pk=patient.pk).first()
        review = imports.review_import(patient=patient, data=data)
        if (review.needs_decision and decision not in (imports.IMPORT_ANYWAY, imports.REPLACE)) or (
            review.needs_identity_confirmation and not identity_confirmed
        ):
            raise ImportNeedsConfirmation(review)
        replaced = (
            review.replaceable if review.needs_decision and decision == imports.REPLACE else []
        )
        for earlier in replaced:
            unlink_source(source=earlier, purge=True, request=request)
        source = Source.objects.create(
            patient=patient,
            kind=SourceKind.UPLOAD,
            label=filename[:200],
            consent_at=timezone.now(),
            file_hash=review.file_hash,
        )
        Upload.objects.create(source=source, data=data, size=len(data))
        # A source whose records have not arrived yet: the pages say so until it completes.
        readmodels.bump(patient_id=patient.pk)
        if review.needs_identity_confirmation:
            # What the patient confirmed, in kinds and counts: never the names themselves.
            audit.record(
                action=Action.IMPORT_CONFIRMED,
                request=request,
                actor=_acting(request, patient),
                patient=patient,
                obj=source,
                extra={"identity": review.identity, "people": len(review.people)},
            )
        audit.record(
            action=Action.RECORDS_IMPORTED,
            request=request,
            actor=_acting(request, patient),
            patient=patient,
            obj=source,
            extra={
                "resources": len(review.resources),
                "already_stored": review.already_stored,
                "replaced": len(replaced),
            },
        )
        sync.request_sync(source=source, trigger=RunTrigger.IMPORT)
    return source
