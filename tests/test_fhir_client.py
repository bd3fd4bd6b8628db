"""The FHIR client on its own: searches page by page, and the SSRF guard pinned to the address
it checked. A small local server stands in for a hospital; the resolver (socket.getaddrinfo,
outside the product) is replaced to play a hospital's DNS, a private address and a rebinding."""

import datetime as dt
import json
import socket
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace
from urllib.parse import parse_qsl, urlsplit

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from institutions import fhir_client

NAME = "hanbit.test"  # a hospital's host name; only the replaced resolver knows it
REAL_GETADDRINFO = socket.getaddrinfo


class _Hospital(ThreadingHTTPServer):
    """Answers GETs from `pages` (path → document) and records what it was asked."""

    daemon_threads = True

    def __init__(self, pages):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.pages, self.requests, self.server_names = pages, [], []


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        parts = urlsplit(self.path)
        self.server.requests.append(
            {"host": self.headers["Host"], "path": parts.path, "query": parse_qsl(parts.query)}
        )
        document = self.server.pages.get(parts.path)
        body = json.dumps(document or {"resourceType": "OperationOutcome"}).encode()
        self.send_response(200 if document else 404)
        self.send_header("Content-Type", "application/fhir+json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def serve():
    servers = []

    def start(pages, *, tls: ssl.SSLContext | None = None) -> _Hospital:
        server = _Hospital(pages)
        if tls:
            server.socket = tls.wrap_socket(server.socket, server_side=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def resolver(monkeypatch):
    """NAME resolves to whatever `answers` holds next (the last answer repeats); every other
    name as usual. `calls` counts the lookups of NAME."""
    state = SimpleNamespace(answers=["127.0.0.1"], calls=0)

    def getaddrinfo(host, port, *args, **kwargs):
        if host != NAME:
            return REAL_GETADDRINFO(host, port, *args, **kwargs)
        address = state.answers[min(state.calls, len(state.answers) - 1)]
        state.calls += 1
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port or 0))]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return state


@pytest.fixture
def connections(monkeypatch):
    """The (host, port) every outgoing TCP connection was opened to."""
    opened, create_connection = [], socket.create_connection

    def recording(address, *args, **kwargs):
        opened.append(address)
        return create_connection(address, *args, **kwargs)

    monkeypatch.setattr(socket, "create_connection", recording)
    return opened


@pytest.fixture(autouse=True)
def _loopback_allowed(settings):
    settings.PHR_FHIR_ALLOW_LOOPBACK = True
    settings.PHR_FHIR_ALLOW_PRIVATE = False


def client_for(base_url: str) -> fhir_client.FHIRClient:
    institution = SimpleNamespace(pk=None, fhir_base_url=base_url, token_url="")
    return fhir_client.FHIRClient(
        institution, policy=fhir_client.RetryPolicy(attempts=1), sleep=lambda s: None
    )


# --- The SSRF guard: the address checked is the address connected to -------------------------


def test_ssrf_guard_refuses_a_name_that_resolves_to_a_private_address(resolver):
    resolver.answers = ["10.0.0.5"]

    with pytest.raises(fhir_client.UnsafeURL, match=r"10\.0\.0\.5 is a private"):
        fhir_client.check_url(f"https://{NAME}/fhir")
    with pytest.raises(fhir_client.UnsafeURL, match=r"10\.0\.0\.5 is a private"):
        client_for(f"https://{NAME}/fhir")


def test_a_connection_goes_to_the_address_that_was_checked(serve, resolver, connections):
    hospital = serve({"/fhir/metadata": {"resourceType": "CapabilityStatement"}})
    port = hospital.server_address[1]

    with client_for(f"http://{NAME}:{port}/fhir") as client:
        assert client.capability() == {"resourceType": "CapabilityStatement"}

    # By IP, never by name (a second lookup could answer otherwise); the Host is the name.
    assert connections == [("127.0.0.1", port)]
    assert [r["host"] for r in hospital.requests] == [f"{NAME}:{port}"]


def test_a_name_rebound_after_the_check_is_refused_before_connecting(serve, resolver, connections):
    hospital = serve({"/fhir/metadata": {"resourceType": "CapabilityStatement"}})
    port = hospital.server_address[1]
    client = client_for(f"http://{NAME}:{port}/fhir")  # checked: 127.0.0.1
    resolver.answers = ["10.0.0.5"]  # then the attacker's DNS answers an internal address

    with client, pytest.raises(fhir_client.UnsafeURL, match=r"10\.0\.0\.5 is a private"):
        client.capability()

    assert connections == []
    assert hospital.requests == []


def _tls_for(name: str, tmp_path) -> tuple[ssl.SSLContext, str]:
    """A server context with a certificate for `name` only (no IP address in it), and the file
    of the CA that signed it."""
    now = dt.datetime.now(dt.UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    (tmp_path / "ca.pem").write_bytes(ca.public_bytes(pem))
    (tmp_path / "leaf.pem").write_bytes(leaf.public_bytes(pem))
    (tmp_path / "leaf.key").write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "leaf.pem", tmp_path / "leaf.key")
    return context, str(tmp_path / "ca.pem")


def test_a_pinned_https_connection_keeps_the_names_sni_and_certificate_check(
    serve, resolver, connections, tmp_path, monkeypatch
):
    context, ca_file = _tls_for(NAME, tmp_path)
    names = []
    context.sni_callback = lambda sock, server_name, ctx: names.append(server_name)
    hospital = serve({"/fhir/metadata": {"resourceType": "CapabilityStatement"}}, tls=context)
    port = hospital.server_address[1]
    monkeypatch.setenv("SSL_CERT_FILE", ca_file)  # httpx trusts the test CA

    with client_for(f"https://{NAME}:{port}/fhir") as client:
        assert client.capability() == {"resourceType": "CapabilityStatement"}

    assert connections == [("127.0.0.1", port)]
    assert names == [NAME]  # the certificate (for the name only) was verified for the name
    assert [r["host"] for r in hospital.requests] == [f"{NAME}:{port}"]


# --- Searches, page by page -------------------------------------------------------------------


def _bundle(ids, *, next_url=None, **fields):
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"resource": {"resourceType": "Observation", "id": i}} for i in ids],
        "link": [{"relation": "next", "url": next_url}] if next_url else [],
        **fields,
    }


def test_a_search_follows_next_links_and_reads_the_first_pages_announcements(serve, resolver):
    since = dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    hospital = serve({})
    base = f"http://{NAME}:{hospital.server_address[1]}/fhir"
    hospital.pages.update(
        {
            "/fhir/Observation": _bundle(
                ["a", "b"],
                next_url=f"{base}/page/2",
                total=3,
                meta={"lastUpdated": "2025-06-01T09:00:00+09:00"},
            ),
            "/fhir/page/2": _bundle(["c"], total=99, meta={"lastUpdated": "2030-01-01"}),
        }
    )

    with client_for(base) as client:
        pages = list(
            client.search("Observation", {"patient": "Patient/p1"}, since=since, page_size=2)
        )

    assert [[r["id"] for r in p.resources] for p in pages] == [["a", "b"], ["c"]]
    assert [p.next_url for p in pages] == [f"{base}/page/2", None]
    assert [p.first for p in pages] == [True, False]
    assert [p.total for p in pages] == [3, None]  # only the first page announces
    assert pages[0].server_time == dt.datetime(2025, 6, 1, 0, 0, tzinfo=dt.UTC)
    assert pages[1].server_time is None
    assert hospital.requests[0]["query"] == [
        ("_count", "2"),
        ("_lastUpdated", "gt2024-01-02T03:04:05+00:00"),
        ("patient", "Patient/p1"),
    ]
    assert [r["path"] for r in hospital.requests] == ["/fhir/Observation", "/fhir/page/2"]


def test_everything_asks_since_and_a_search_resumes_from_a_stored_next_link(serve, resolver):
    hospital = serve({})
    base = f"http://{NAME}:{hospital.server_address[1]}/fhir"
    hospital.pages.update(
        {
            "/fhir/Patient/p1/$everything": _bundle(["a"], next_url=f"{base}/page/2", total=2),
            "/fhir/page/2": _bundle(["b"], total=2),
        }
    )
    since = dt.datetime(2024, 1, 2, tzinfo=dt.UTC)

    with client_for(base) as client:
        first = next(iter(client.everything("p1", since=since, page_size=1)))
        rest = list(client.resume(first.next_url))  # e.g. in another worker, from the cursor

    assert hospital.requests[0]["query"] == [("_count", "1"), ("_since", since.isoformat())]
    assert [[r["id"] for r in p.resources] for p in rest] == [["b"]]
    assert [(p.first, p.total) for p in rest] == [(False, None)]


def _eventually(condition, seconds=10.0) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def test_a_search_fetches_one_page_ahead_while_the_caller_stores_one(serve, resolver):
    hospital = serve({})
    base = f"http://{NAME}:{hospital.server_address[1]}/fhir"
    hospital.pages.update(
        {
            "/fhir/Observation": _bundle(["a"], next_url=f"{base}/page/2"),
            "/fhir/page/2": _bundle(["b"], next_url=f"{base}/page/3"),
            "/fhir/page/3": _bundle([]),
        }
    )

    with client_for(base) as client:
        pages = client.search("Observation", {}, since=None, page_size=1)
        first = next(pages)
        # While the caller holds the first page, the second is asked for — and no further.
        assert _eventually(lambda: len(hospital.requests) == 2)
        time.sleep(0.3)
        assert len(hospital.requests) == 2
        second = next(pages)
        assert _eventually(lambda: len(hospital.requests) == 3)
        rest = list(pages)
    assert [p.resources for p in rest] == [[]]  # the third page, empty, ends the search
    assert [r["id"] for r in first.resources] == ["a"]
    assert [r["id"] for r in second.resources] == ["b"]
    assert [r["path"] for r in hospital.requests] == [
        "/fhir/Observation",
        "/fhir/page/2",
        "/fhir/page/3",
    ]
    assert hospital.requests[0]["query"] == [("_count", "1")]  # no since: everything


def test_a_page_fetched_ahead_fails_where_that_page_would_have_been(serve, resolver):
    hospital = serve({})
    base = f"http://{NAME}:{hospital.server_address[1]}/fhir"
    hospital.pages["/fhir/Observation"] = _bundle(["a"], next_url=f"{base}/page/gone")

    with client_for(base) as client:
        pages = client.search("Observation", {}, since=None, page_size=1)
        assert [r["id"] for r in next(pages).resources] == ["a"]  # stored before the error
        with pytest.raises(fhir_client.PageExpired):
            next(pages)


def test_a_caller_that_stops_early_leaves_no_request_running(serve, resolver):
    hospital = serve({})
    base = f"http://{NAME}:{hospital.server_address[1]}/fhir"
    hospital.pages.update(
        {
            "/fhir/Observation": _bundle(["a"], next_url=f"{base}/page/2"),
            "/fhir/page/2": _bundle(["b"], next_url=f"{base}/page/3"),
        }
    )
    running = {t.ident for t in threading.enumerate()}

    with client_for(base) as client:
        pages = client.search("Observation", {}, since=None, page_size=1)
        next(pages)
        pages.close()  # e.g. the source was unlinked while this page was stored

    assert not [
        t for t in threading.enumerate() if t.ident not in running and t.name == "fhir-page-ahead"
    ]
    assert "/fhir/page/3" not in [r["path"] for r in hospital.requests]


@pytest.mark.parametrize("entry", [None, 7, "x", {"resource": {}}])
def test_a_bundle_whose_entries_are_not_a_list_is_refused_with_a_reason(serve, resolver, entry):
    """A hostile or broken page: its run failed with a TypeError (QA), not a reason."""
    hospital = serve({"/fhir/Observation": {"resourceType": "Bundle", "entry": entry}})
    base = f"http://{NAME}:{hospital.server_address[1]}/fhir"

    with (
        client_for(base) as client,
        pytest.raises(fhir_client.TransientError, match="entries are not a list"),
    ):
        list(client.search("Observation", {}, since=None, page_size=1))


def test_a_search_refuses_what_is_not_a_bundle_and_an_expired_next_link(serve, resolver):
    hospital = serve({"/fhir/Observation": {"resourceType": "OperationOutcome"}})
    base = f"http://{NAME}:{hospital.server_address[1]}/fhir"

    with client_for(base) as client:
        with pytest.raises(fhir_client.TransientError, match="without a Bundle"):
            list(client.search("Observation", {}, since=None, page_size=1))
        with pytest.raises(fhir_client.PageExpired):
            list(client.resume(f"{base}/page/gone"))
        with pytest.raises(fhir_client.PermanentError, match="another server"):
            list(client.resume("http://elsewhere.example/fhir/page/2"))
