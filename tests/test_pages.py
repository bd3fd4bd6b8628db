import io
from html.parser import HTMLParser

import pytest
from django.core.management import call_command
from django.test import override_settings

from accounts.demo import DEMO_PASSWORD
from accounts.models import User
from tests.conftest import login

pytestmark = pytest.mark.django_db


class InlineCodeFinder(HTMLParser):
    """Collects what a strict CSP would block: inline scripts, style blocks and attributes."""

    def __init__(self):
        super().__init__()
        self.problems = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "script" and "src" not in attrs and attrs.get("type") != "application/json":
            self.problems.append("inline <script>")
        if tag == "style":
            self.problems.append("<style> block")
        if "style" in attrs:
            self.problems.append(f"style attribute on <{tag}>")
        self.problems += [f"{name} handler on <{tag}>" for name in attrs if name.startswith("on")]


def inline_code(html: bytes) -> list[str]:
    finder = InlineCodeFinder()
    finder.feed(html.decode())
    return finder.problems


def test_landing_page_in_english(client):
    response = client.get("/", headers={"Accept-Language": "en"})
    assert response.status_code == 200
    assert b"All your health records, from every hospital, in one place" in response.content
    assert b'<html lang="en">' in response.content


def test_landing_page_in_korean(client):
    response = client.get("/", headers={"Accept-Language": "ko"})
    assert response.status_code == 200
    assert "모든 병원의 건강기록을 한곳에서" in response.content.decode()
    assert b'<html lang="ko">' in response.content


def test_language_switcher_sets_language(client):
    response = client.post("/i18n/setlang/", {"language": "ko", "next": "/"})
    assert response.status_code == 302
    assert "모든 병원의 건강기록을 한곳에서" in client.get("/").content.decode()


def test_dashboard_requires_login(client):
    response = client.get("/dashboard/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/dashboard/"


def test_dashboard_empty_state_says_what_to_do_next(client, patient):
    login(client, patient.email)
    page = client.get("/dashboard/").content.decode()
    assert "Hello, 김민준" in page
    assert "Identity verified" in page
    assert "Link your hospitals" in page
    assert "No records yet." in page


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/accounts/login/",
        "/accounts/signup/",
        "/accounts/password/reset/",
        "/dashboard/",
        "/account/",
        "/account/identity/",
        "/accounts/2fa/",
    ],
)
def test_pages_have_no_inline_code_and_send_csp(client, patient, path):
    if path.startswith(("/dashboard", "/account/", "/accounts/2fa")):
        login(client, patient.email)
    response = client.get(path)
    assert response.status_code == 200
    assert inline_code(response.content) == []
    csp = response["Content-Security-Policy"]
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Frame-Options"] == "DENY"


@pytest.mark.parametrize(
    ("path", "start"),
    [("/static/vendor/htmx/htmx.min.js", b"var htmx="), ("/static/css/phr.css", b"/* PHR")],
)
def test_static_assets_are_served(client, path, start):
    response = client.get(path)
    body = b"".join(response.streaming_content)
    response.close()
    assert response.status_code == 200
    assert body.startswith(start)


def test_demo_refused_when_debug_is_off():
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="for development only"):
        call_command("demo")
    assert not User.objects.exists()


@override_settings(DEBUG=True)
def test_demo_creates_the_published_logins_idempotently(client):
    call_command("demo", stdout=io.StringIO())
    output = io.StringIO()
    call_command("demo", stdout=output)

    assert "patient@example.com    phr-demo-pass   patient" in output.getvalue()

    emails = sorted(User.objects.filter(profile__managed=False).values_list("email", flat=True))
    assert emails == ["admin@example.com", "other@example.com", "patient@example.com"]
    # The demo child: one managed patient without a login, once however often demo runs.
    child = User.objects.get(profile__managed=True)
    assert child.profile.full_name == "김하은"
    assert not child.has_usable_password()
    for email in emails:
        login(client, email, DEMO_PASSWORD)
        assert client.get("/dashboard/").status_code == 200
        client.post("/accounts/logout/")
    assert User.objects.get(email="admin@example.com").is_staff
    assert all(u.profile.is_verified for u in User.objects.all())
