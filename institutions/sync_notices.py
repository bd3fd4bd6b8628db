"""What the patient is told when a sync run of a linked institution ends (notifications.notify) —
or, for a managed child, its active guardians (notifications.domain.readers_of):
new records arrived, or the run failed for good and needs them (the source's page says why and
offers to try again). Uploads are the patient's own doing: nothing is sent for them.

Called once per run's end by the sync task (institutions.tasks.sync_run); a notice is keyed by
the run, so a task delivered twice tells once.
"""

import logging

from django.urls import reverse

from institutions.models import RunStatus, SourceKind, SyncRun
from notifications.domain import notify, readers_of
from notifications.models import Kind

logger = logging.getLogger(__name__)


def run_ended(*, run_id: int, status: str | None) -> None:
    """Notify the patient of the end of run `run_id` (its final `status`), as they chose.
    Side effects: through notify(), a Notification and an e-mail after commit. Never raises:
    the sync's outcome must not depend on telling about it."""
    if status not in (RunStatus.SUCCEEDED, RunStatus.FAILED):
        return
    try:
        run = SyncRun.objects.select_related("source__institution", "source__patient").get(
            pk=run_id
        )
        source = run.source
        if source.kind == SourceKind.UPLOAD:
            return
        params = {"institution": source.display_name}
        if status == RunStatus.SUCCEEDED:
            changed = run.created_count + run.updated
            if not changed:
                return
            kind, params = Kind.NEW_RESULTS, {**params, "count": changed}
        else:
            kind = Kind.SYNC_FAILED
        # The patient, or a managed child's guardians (their link opens the child's source
        # under /for/<the child>/).
        link = reverse("source_detail", args=[source.code])
        for reader, whose, prefix in readers_of(source.patient):
            told = {**params, "whose": whose.profile.full_name} if whose is not None else params
            notify(
                user=reader,
                patient=whose,
                kind=kind,
                params=told,
                link=prefix + link,
                key=f"sync:{run.code}",
            )
    except Exception as exc:  # a notice that cannot be written is logged, never the sync's end
        logger.warning("sync notice not written run=%s: %s", run_id, type(exc).__name__)
