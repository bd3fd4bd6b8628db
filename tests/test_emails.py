"""E-mails name the product and are written in their reader's language."""

import pytest
from django.core import mail

from tests.conftest import login

pytestmark = pytest.mark.django_db


def _sign_up(client, language):
    client.post(
        "/accounts/signup/",
        {
            "email": "new@example.org",
            "password1": "a-long-pass-phrase-9",  # pragma: allowlist secret (a test value)
            "password2": "a-long-pass-phrase-9",  # pragma: allowlist secret (a test value)
        },
        HTTP_ACCEPT_LANGUAGE=language,
    )
    (message,) = mail.outbox
    return message


@pytest.mark.parametrize(
    ("language", "hello", "thanks"),
    [
        ("en", "Hello from PHR!", "Thank you for using PHR!"),
        ("ko", "안녕하세요 PHR입니다!", "PHR 서비스를 이용해 주셔서 감사합니다!"),
    ],
)
def test_verification_email_names_the_product(client, language, hello, thanks):
    message = _sign_up(client, language)

    assert message.body.startswith(hello)
    assert thanks in message.body
    assert "127.0.0.1" not in message.body.splitlines()[0]
    assert "testserver" not in message.body.splitlines()[0]


@pytest.mark.parametrize(
    ("patient_language", "clinician_language", "subject"),
    [("ko", "en", "공유한 기록이 열람되었습니다"), ("en", "ko", "Your shared records were opened")],
)
def test_share_opened_email_in_patients_language(
    client, patient, patient_language, clinician_language, subject
):
    from tests.test_sharing import make_share, open_as_recipient

    client.post("/i18n/setlang/", {"language": patient_language})
    login(client, patient.email)
    patient.refresh_from_db()
    _share, token = make_share(patient, notify_on_open=True)
    mail.outbox.clear()
    clinician = client.__class__()

    clinician.post("/i18n/setlang/", {"language": clinician_language})
    open_as_recipient(clinician, token)

    assert patient.language == patient_language
    assert [m.subject for m in mail.outbox] == [subject]
