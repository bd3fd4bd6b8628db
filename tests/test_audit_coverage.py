"""Every audited action, performed the way the product performs it, writes its event.

TRIGGERS maps each audit.models.Action to what makes it happen (through the pages, the API or
the domain functions the pages call). An action without a trigger fails the first test, so a
new action cannot be added without proving it is recorded.
"""

import datetime as dt
import re
import time

import pytest
from allauth.mfa.totp.internal.auth import SECRET_SESSION_KEY, format_hotp_value, hotp_value
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone

from accounts.models import PatientProfile
from audit import domain as audit
from audit.models import Action, AuditEvent
from institutions import domain as institutions_domain
from records.models import Record
from tests.conftest import login
from tests.factories import PASSWORD, AuditEventFactory, make_share

pytestmark = pytest.mark.django_db


class Context:
    def __init__(self, client, patient, admin_user, mailoutbox, settings):
        self.client = client
        self.patient = patient
        self.admin_user = admin_user
        self.mailoutbox = mailoutbox
        self.settings = settings

    def logged_in(self):
        login(self.client, self.patient.email)
        return self.client

    def reauthenticated(self):
        client = self.logged_in()
        client.post("/accounts/reauthenticate/", {"password": PASSWORD})
        return client

    def share(self, **kwargs):
        share, token = make_share(
            self.patient,
            label="Dr. Kim",
            categories=["lab"],
            passcode=kwargs.get("passcode", ""),
            allow_download=kwargs.get("allow_download", False),
            request=None,
        )
        return share, token

    def opened_share(self, **kwargs):
        _share, token = self.share(**kwargs)
        recipient = Client()
        assert recipient.post(f"/s/{token}/", {"name": "Dr. Kim"}).status_code == 302
        return recipient, token

    def enrol_totp(self):
        client = self.reauthenticated()
        client.get("/accounts/2fa/totp/activate/")
        secret = client.session[SECRET_SESSION_KEY]
        code = format_hotp_value(hotp_value(secret, int(time.time()) // 30))
        response = client.post("/accounts/2fa/totp/activate/", {"code": code})
        assert response.status_code == 302
        return client

    def import_upload(self):
        from tests.records_data import generated, import_resources

        return import_resources(self.patient, "검진결과.json", generated(self.patient, size=20))


def _password_reset(ctx):
    ctx.client.post("/accounts/password/reset/", {"email": ctx.patient.email})
    link = re.search(
        r"http://testserver(/accounts/password/reset/key/\S+)", ctx.mailoutbox[-1].body
    )
    page = ctx.client.get(link.group(1))
    new = "An0ther-long-passphrase!"
    ctx.client.post(page["Location"], {"password1": new, "password2": new})


def _email_changed(ctx):
    client = ctx.reauthenticated()
    client.post("/accounts/email/", {"email": "new@example.org", "action_add": ""})
    key = re.search(r"/accounts/confirm-email/([-:\w]+)/", ctx.mailoutbox[-1].body).group(1)
    client.post(f"/accounts/confirm-email/{key}/")
    client.post("/accounts/email/", {"email": "new@example.org", "action_primary": ""})


def _mfa_removed(ctx):
    client = ctx.enrol_totp()
    client.post("/accounts/2fa/totp/deactivate/")


def _mfa_reset(ctx):
    client = ctx.enrol_totp()
    client.post("/accounts/2fa/recovery-codes/generate/")


def _sessions_ended(ctx):
    first = Client()
    login(first, ctx.patient.email)
    client = ctx.logged_in()
    client.post("/accounts/sessions/", {"action": "logout_others"})


def _session_expired(ctx):
    client = ctx.logged_in()
    session = client.session
    session["phr_seen"] -= ctx.settings.PHR_SESSION_IDLE_TIMEOUT + 1
    session.save()
    client.get("/dashboard/")


def _staff_viewed(ctx):
    ctx.settings.PHR_STAFF_MFA_REQUIRED = False
    client = Client()
    client.force_login(ctx.admin_user)
    client.get(f"/admin/accounts/user/{ctx.patient.pk}/change/")


def _purged(ctx):
    AuditEventFactory(created=timezone.now() - dt.timedelta(days=3 * 365))
    audit.purge_expired()


def _share_wrong_passcode(ctx):
    _share, token = ctx.share(passcode="2468")
    Client().post(f"/s/{token}/", {"passcode": "0000"})


def _share_viewed(ctx):
    recipient, token = ctx.opened_share()
    recipient.get(f"/s/{token}/c/lab/")


def _share_downloaded(ctx):
    recipient, token = ctx.opened_share(allow_download=True)
    b"".join(recipient.get(f"/s/{token}/download/").streaming_content)


def _share_reissued(ctx):
    share, _ = ctx.share()
    ctx.logged_in().post(f"/shares/{share.code}/reissue/")


def _share_revoked(ctx):
    share, _ = ctx.share()
    ctx.logged_in().post(f"/shares/{share.code}/revoke/")


def _share_created(ctx):
    ctx.logged_in().post(
        "/api/v1/shares/",
        {
            "label": "Dr. Lee",
            "categories": ["lab"],
            "expires_at": (timezone.now() + dt.timedelta(days=2)).isoformat(),
        },
        content_type="application/json",
    )


def _source_unlinked(ctx, *, purge=False):
    source = ctx.import_upload()
    data = {"purge": "true" if purge else "false", "confirm": source.records.count()}
    ctx.logged_in().post(f"/sources/{source.code}/unlink/", data)


def _sync_requested(ctx):
    source = ctx.import_upload()
    ctx.logged_in().post(f"/sources/{source.code}/sync/")


def _institution_changed(ctx):
    from institutions.models import Institution

    institution = Institution.objects.create(name="새병원", hira_number="12345678", type_code="31")
    institutions_domain.set_status(institution=institution, status="paused", actor=ctx.admin_user)


def _identity_verified(ctx):
    ctx.logged_in().post(
        "/account/identity/",
        {
            "full_name": "김민준",
            "birth_date": "1962-03-15",
            "sex": "male",
            "phone": "010-1234-5678",
            "confirm": "on",
        },
    )


def _caregiver(ctx):
    """A caregiver of the patient's (an accepted, read-only grant) and their own client."""
    from tests.factories import DelegationFactory, UserFactory

    helper = UserFactory()
    grant = DelegationFactory(patient=ctx.patient, delegate=helper)
    client = Client()
    client.force_login(helper)
    return grant, client


def _invitation(ctx):
    from core.access import Actor
    from sharing import caregivers

    return caregivers.invite(
        actor=Actor.patient(ctx.patient),
        patient=ctx.patient,
        email="helper@example.org",
        label="Helper",
        expires_at=timezone.now() + dt.timedelta(days=7),
    )


def _delegation_accepted(ctx):
    from sharing import caregivers
    from tests.factories import UserFactory

    _grant, token = _invitation(ctx)
    caregivers.accept(token=token, user=UserFactory(email="helper@example.org"))


def _household(ctx, *parents):
    """The cast patient (김민준, 1962-03-15) registered with a child under 14 at his address,
    with any other parents given; the child's events are written on the child's record."""
    ctx.settings.PHR_FAMILY_REGISTRY = [
        {
            "parents": [{"name": "김민준", "birth_date": "1962-03-15"}, *parents],
            "children": [{"name": "김하린", "birth_date": "2020-01-15", "sex": "female"}],
        }
    ]


def _child_added(ctx):
    _household(ctx)
    ctx.logged_in().post(
        "/family/children/",
        {"full_name": "김하린", "birth_date": "2020-01-15", "sex": "female", "confirm": "on"},
    )


def _second_guardian(ctx):
    from accounts import domain as accounts_domain
    from sharing import family
    from tests.factories import UserFactory

    _household(ctx, {"name": "최지은", "birth_date": "1985-06-01"})
    family.add_child(
        guardian=ctx.patient, full_name="김하린", birth_date=dt.date(2020, 1, 15), sex="female"
    )
    mother = UserFactory()
    accounts_domain.verify_identity(
        user=mother,
        full_name="최지은",
        birth_date=dt.date(1985, 6, 1),
        sex="female",
        phone="010-5555-6666",
    )
    family.add_child(
        guardian=mother, full_name="김하린", birth_date=dt.date(2020, 1, 15), sex="female"
    )


def _aged_out(ctx):
    import time_machine

    from sharing import family
    from sharing.tasks import end_guardian_grants

    _household(ctx)
    family.add_child(
        guardian=ctx.patient, full_name="김하린", birth_date=dt.date(2020, 1, 15), sex="female"
    )
    with time_machine.travel(dt.datetime(2034, 1, 15, 1, tzinfo=dt.UTC), tick=False):
        end_guardian_grants()


def _record_claimed(ctx):
    import time_machine

    from tests.factories import UserFactory

    _aged_out(ctx)
    with time_machine.travel(dt.datetime(2034, 2, 1, 1, tzinfo=dt.UTC), tick=False):
        harin = UserFactory(email="harin@example.org")
        client = Client()
        client.force_login(harin)
        client.post(
            "/account/identity/",
            {
                "full_name": "김하린",
                "birth_date": "2020-01-15",
                "sex": "female",
                "phone": "010-7777-8888",
                "confirm": "on",
            },
        )


# Events written on a child's record (its patient is the child, not the cast patient).
ON_THE_CHILDS_RECORD = {
    Action.CHILD_ADDED,
    Action.DELEGATION_CREATED,
    Action.DELEGATION_ENDED,
    Action.RECORD_CLAIMED,
}

TRIGGERS = {
    Action.LOGIN: lambda ctx: ctx.logged_in(),
    Action.LOGOUT: lambda ctx: ctx.logged_in().post("/accounts/logout/"),
    Action.LOGIN_FAILED: lambda ctx: ctx.client.post(
        "/accounts/login/", {"login": ctx.patient.email, "password": "wrong"}
    ),
    Action.PASSWORD_CHANGED: lambda ctx: ctx.logged_in().post(
        "/accounts/password/change/",
        {
            "oldpassword": PASSWORD,
            "password1": "An0ther-long-passphrase!",
            "password2": "An0ther-long-passphrase!",
        },
    ),
    Action.PASSWORD_RESET: _password_reset,
    Action.EMAIL_CHANGED: _email_changed,
    Action.MFA_ADDED: lambda ctx: ctx.enrol_totp(),
    Action.MFA_REMOVED: _mfa_removed,
    Action.MFA_RESET: _mfa_reset,
    Action.IDENTITY_VERIFIED: _identity_verified,
    Action.SOURCE_LINKED: None,  # set below (needs a hospital): see test_source_linked_is_audited
    Action.SOURCE_UNLINKED: _source_unlinked,
    Action.SOURCE_PURGED: lambda ctx: _source_unlinked(ctx, purge=True),
    Action.SYNC_REQUESTED: _sync_requested,
    Action.RECORDS_IMPORTED: lambda ctx: ctx.import_upload(),
    Action.IMPORT_CONFIRMED: lambda ctx: ctx.logged_in().post(
        "/sources/import/",
        {
            "file": SimpleUploadedFile("orgs.json", b'{"resourceType":"Organization","id":"o1"}'),
            "confirm": "on",
        },
    ),
    Action.RECORDS_EXPORTED: lambda ctx: b"".join(
        ctx.logged_in().get("/records/export/fhir/").streaming_content
    ),
    Action.SHARE_CREATED: _share_created,
    Action.SHARE_REVOKED: _share_revoked,
    Action.SHARE_REISSUED: _share_reissued,
    Action.SHARE_OPENED: lambda ctx: ctx.opened_share(),
    Action.SHARE_VIEWED: _share_viewed,
    Action.SHARE_DOWNLOADED: _share_downloaded,
    Action.SHARE_WRONG_PASSCODE: _share_wrong_passcode,
    Action.INSTITUTION_CHANGED: _institution_changed,
    Action.STAFF_VIEWED: _staff_viewed,
    Action.SESSIONS_ENDED: _sessions_ended,
    Action.SESSION_EXPIRED: _session_expired,
    Action.DATA_DOWNLOADED: lambda ctx: b"".join(
        ctx.logged_in().post("/account/download/").streaming_content
    ),
    Action.ACCOUNT_DELETED: lambda ctx: ctx.reauthenticated().post(
        "/account/delete/", {"confirm": "on"}
    ),
    Action.AUDIT_PURGED: _purged,
    Action.DELEGATE_VIEWED: lambda ctx: _caregiver(ctx)[1].get(
        f"/for/{ctx.patient.code}/dashboard/"
    ),
    Action.DELEGATION_INVITED: lambda ctx: ctx.logged_in().post(
        "/family/caregivers/invite/",
        {"email": "helper@example.org", "label": "Helper", "rights": "read", "duration": "7d"},
    ),
    Action.DELEGATION_ACCEPTED: _delegation_accepted,
    Action.DELEGATION_RENEWED: lambda ctx: ctx.logged_in().post(
        f"/family/caregivers/{_invitation(ctx)[0].code}/renew/", {"duration": "30d"}
    ),
    Action.DELEGATION_REVOKED: lambda ctx: ctx.logged_in().post(
        f"/family/caregivers/{_invitation(ctx)[0].code}/revoke/"
    ),
    Action.CHILD_ADDED: _child_added,
    Action.DELEGATION_CREATED: _second_guardian,
    Action.DELEGATION_ENDED: _aged_out,
    Action.RECORD_CLAIMED: _record_claimed,
}


def test_every_action_has_a_trigger():
    assert set(TRIGGERS) == set(Action.values)


@pytest.mark.parametrize("action", [a for a in Action.values if a != Action.SOURCE_LINKED])
def test_action_writes_its_event(
    action, client, patient, admin_user, mailoutbox, settings, django_capture_on_commit_callbacks
):
    ctx = Context(client, patient, admin_user, mailoutbox, settings)
    before = AuditEvent.objects.filter(action=action).count()
    # Some events are written after commit (allauth announces new authenticators then).
    with django_capture_on_commit_callbacks(execute=True):
        TRIGGERS[action](ctx)
    events = AuditEvent.objects.filter(action=action)
    assert events.count() > before, f"{action} wrote no audit event"
    event = events.order_by("-id").first()
    if action in ON_THE_CHILDS_RECORD:
        assert PatientProfile.objects.get(user_id=event.patient_id).full_name == "김하린", action
    elif action not in (Action.AUDIT_PURGED, Action.INSTITUTION_CHANGED):
        assert event.patient_id == patient.pk, action
    # No clinical content, token or secret in any event written along the way.
    clinical = set(Record.objects.values_list("display", flat=True)[:200])
    for row in AuditEvent.objects.values_list("extra", "actor_label", "object_id"):
        text = str(row)
        assert not any(display and display in text for display in clinical), (action, row)
        assert PASSWORD not in text
        assert "An0ther" not in text


@pytest.mark.django_db(transaction=True)
def test_source_linked_is_audited(patient, institution, known_patient):
    institutions_domain.link_institution(patient=patient, institution=institution)
    event = AuditEvent.objects.get(action=Action.SOURCE_LINKED)
    assert event.patient_id == patient.pk
