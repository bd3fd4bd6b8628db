"""An HTTP client for institutions' FHIR R4 endpoints (OAuth2 client credentials).

Retries only what is transient — timeouts, connection errors, cut-off or unreadable bodies,
5xx, 429 (honouring Retry-After) — with exponential backoff and jitter inside a bounded budget;
refreshes the token on a 401 once; fails fast on other 4xx. Every failure carries a message a
patient or operator can read. Built on httpx; the retry policy is ours because it must know
FHIR's failure modes (a 404 on a paging link is not "no more pages").

Searches are read page by page (`everything`, `search`, `resume`: iterators of Page) following
the server's next links; a caller that stores each page's next link can resume from it.
Every connection goes to an address the SSRF guard checked in the same step (PinnedTransport).

What a sync costs before its first page is kept small: the access token is reused across
syncs until shortly before it expires (in the configured cache, encrypted, keyed by the
institution and its client credentials; a 401 drops it and a new one is fetched once), and the
TLS context (the CA bundle, ~20–200 ms to load) is built once per process, not per client.
"""

import datetime as dt
import email.utils
import functools
import ipaddress
import logging
import os
import random
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django import db
from django.conf import settings
from django.core.cache import cache
from django.utils.crypto import salted_hmac

# Messages stay msgid + parameters, so a run stores them as such and each reader sees them in
# their own language (institutions.messages); they read like gettext calls for makemessages.
from institutions.messages import message as _
from records import fhirjson
from records.fhirtime import parse_fhir_datetime

logger = logging.getLogger(__name__)
FHIR_ACCEPT = "application/fhir+json"
IDENTITY_SYSTEM = "https://phr.example/identifier/verified-identity"


class FHIRError(Exception):
    """A failure talking to an institution, with a message for people."""

    transient = False

    def __init__(self, message, *, detail: str = ""):
        super().__init__(str(message))
        self.message = message
        self.detail = detail  # technical, for logs and operators; never clinical content


class TransientError(FHIRError):
    transient = True


class PermanentError(FHIRError):
    pass


class PageExpired(FHIRError):
    """A paging link the server no longer answers: the search must start again."""


class UnsafeURL(PermanentError):
    pass


class Gone(PermanentError):
    """404 or 410 for what was asked (not a paging link): the server does not know it (now)."""


def check_url(url: str) -> None:
    """Refuse URLs the platform must never call (SSRF): non-HTTP(S), private, link-local
    (cloud metadata), multicast or reserved addresses; loopback only when settings allow it."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UnsafeURL(_("The address must start with http:// or https:// and name a host."))
    checked_addresses(parts.hostname, parts.port or 443)


def checked_addresses(host: str, port: int) -> list[str]:
    """The addresses `host` resolves to, in the resolver's order, once each is allowed; raises
    UnsafeURL if any is not. The connection must go to one of these (PinnedTransport): a second
    lookup could answer differently (DNS rebinding)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror:
        raise UnsafeURL(_("The host name %(host)s cannot be resolved.") % {"host": host}) from None
    addresses = list(dict.fromkeys(info[4][0] for info in infos))
    for address in addresses:
        ip = ipaddress.ip_address(address.split("%")[0])
        if ip.is_loopback:
            if not settings.PHR_FHIR_ALLOW_LOOPBACK:
                raise UnsafeURL(_("Addresses on this machine (loopback) are not allowed."))
        elif not ip.is_global and not settings.PHR_FHIR_ALLOW_PRIVATE:
            raise UnsafeURL(
                _("%(ip)s is a private, link-local or reserved address; it is not allowed.")
                % {"ip": ip}
            )
    return addresses


class PinnedTransport(httpx.HTTPTransport):
    """Connects only to an address the SSRF guard has just checked.

    Each request resolves its host once, checks every address (checked_addresses), and connects
    to a checked one by IP — trying them in the resolver's order, as a socket connect would —
    so no second lookup can move the connection elsewhere. The Host header, TLS SNI and
    certificate verification stay those of the host name. Environment proxies are not used
    (httpx ignores them with an explicit transport): a proxy would resolve the name itself.
    """

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        host = request.url.host
        addresses = checked_addresses(host, request.url.port or _DEFAULT_PORTS[request.url.scheme])
        extensions = dict(request.extensions)
        if request.url.scheme == "https":
            extensions["sni_hostname"] = host  # SNI and the certificate check use the name
        failure = None
        for address in addresses:
            pinned = httpx.Request(
                request.method,
                request.url.copy_with(host=address.split("%")[0]),
                headers=request.headers,  # the Host header was set from the name
                stream=request.stream,
                extensions=extensions,
            )
            try:
                return super().handle_request(pinned)
            except httpx.ConnectError as exc:  # nothing listens there: the next address
                failure = exc
        raise failure


_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 6  # per request
    base_delay: float = 0.5
    max_delay: float = 30.0
    budget: float = 120.0  # total seconds a request may spend waiting between attempts


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if not value:
        return None
    if value.strip().isdigit():
        return float(value)
    parsed = email.utils.parsedate_to_datetime(value) if value else None
    return max(0.0, parsed.timestamp() - time.time()) if parsed else None


def _outcome_text(response: httpx.Response) -> str:
    try:
        issues = response.json().get("issue", [])
        return "; ".join(i.get("diagnostics", "") for i in issues)[:300]
    except (ValueError, AttributeError):
        return ""


def _tls_context() -> ssl.SSLContext:
    """httpx's own default context (its CA bundle, or SSL_CERT_FILE / SSL_CERT_DIR), built once
    per process and bundle: loading the bundle is most of what creating a client costs, and an
    SSLContext is safe to share between threads."""
    return _tls_context_for(os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))


@functools.cache
def _tls_context_for(cert_file: str | None, cert_dir: str | None) -> ssl.SSLContext:
    return httpx.create_ssl_context()


# --- Access tokens, reused across clients and syncs ------------------------------------------

TOKEN_MARGIN = 60.0  # seconds before its expiry a cached token is no longer used (at most)
TOKEN_DEFAULT_LIFETIME = 300.0  # a token answer without expires_in: reused this long (or to a 401)
_now = time.time  # the clock the cached tokens' expiry is read by (tests move it)


def _token_key(institution) -> str:
    """The cache key of an institution's token: its id and a keyed digest of the credentials
    it was issued for, so that changed credentials never reuse an old token."""
    digest = salted_hmac(
        "institutions.fhir_client.token",
        "\0".join((institution.token_url, institution.client_id, institution.client_secret)),
    ).hexdigest()[:32]
    return f"fhir-token:{institution.pk}:{digest}"


def _fernet() -> MultiFernet:
    # The cache may be the database (DatabaseCache): a token is stored only encrypted.
    return MultiFernet([Fernet(key) for key in settings.FIELD_ENCRYPTION_KEYS])


def _cached_token(institution) -> str | None:
    try:
        entry = cache.get(_token_key(institution))
    except Exception as exc:  # the cache being down only costs a token request
        logger.warning("fhir client cache unavailable: %s", type(exc).__name__)
        return None
    if not isinstance(entry, dict) or entry.get("until", 0) <= _now():
        return None
    try:
        return _fernet().decrypt(entry["token"].encode()).decode()
    except (InvalidToken, KeyError, AttributeError, TypeError):
        return None


def _cache_token(institution, token: str, lifetime: float) -> None:
    margin = min(TOKEN_MARGIN, lifetime / 10)
    keep = lifetime - margin
    if not token or keep <= 0:
        return
    entry = {"token": _fernet().encrypt(token.encode()).decode(), "until": _now() + keep}
    try:
        cache.set(_token_key(institution), entry, timeout=keep)
    except Exception as exc:
        logger.warning("fhir client cache unavailable: %s", type(exc).__name__)


def _drop_token(institution) -> None:
    try:
        cache.delete(_token_key(institution))
    except Exception as exc:
        logger.warning("fhir client cache unavailable: %s", type(exc).__name__)


def _lifetime(answer: dict) -> float:
    value = answer.get("expires_in")
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return float(value)
    return TOKEN_DEFAULT_LIFETIME


class FHIRClient:
    """Talks to one institution. Use as a context manager (closes its connections)."""

    def __init__(self, institution, *, policy: RetryPolicy | None = None, sleep=time.sleep):
        check_url(institution.fhir_base_url)
        if institution.token_url:
            check_url(institution.token_url)
        self.institution = institution
        self.base_url = institution.fhir_base_url.rstrip("/")
        self.policy = policy or RetryPolicy(
            attempts=settings.PHR_FHIR_ATTEMPTS,
            base_delay=settings.PHR_FHIR_BASE_DELAY,
            budget=settings.PHR_FHIR_RETRY_BUDGET,
        )
        self.sleep = sleep
        tls = _tls_context()
        self.http = httpx.Client(
            transport=PinnedTransport(verify=tls),
            verify=tls,
            timeout=httpx.Timeout(settings.PHR_FHIR_TIMEOUT, connect=5.0),
            follow_redirects=False,  # a redirect could point anywhere: never follow it
            headers={"Accept": FHIR_ACCEPT},
        )
        self._token: str | None = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.http.close()

    # --- token ---------------------------------------------------------------------------
    def _fetch_token(self) -> str:
        """A new access token from the institution's token endpoint, cached for other syncs."""
        if not self.institution.token_url:
            return ""
        try:
            response = self.http.post(
                self.institution.token_url,
                data={"grant_type": "client_credentials"},
                auth=(self.institution.client_id, self.institution.client_secret),
            )
        except httpx.TransportError as exc:
            raise TransientError(
                _("The hospital's sign-in service could not be reached."), detail=type(exc).__name__
            ) from None
        if response.status_code in (400, 401, 403):
            raise PermanentError(
                _("The hospital refused the platform's credentials (HTTP %(status)s).")
                % {"status": response.status_code}
            )
        if response.status_code != 200:
            raise TransientError(
                _("The hospital's sign-in service failed (HTTP %(status)s).")
                % {"status": response.status_code}
            )
        try:
            answer = response.json()
            token = answer["access_token"]
        except (ValueError, KeyError, TypeError):
            token = None
        if not isinstance(token, str) or not token:
            raise PermanentError(_("The hospital's sign-in service answered without a token."))
        _cache_token(self.institution, token, _lifetime(answer))
        return token

    def _headers(self, *, refresh: bool = False) -> dict:
        """The Authorization header: the cached token while it is valid, else a new one.
        `refresh`: the server refused the token in use; it is dropped and a new one fetched."""
        if refresh:
            _drop_token(self.institution)
            self._token = self._fetch_token()
        elif self._token is None:
            if self.institution.token_url:
                self._token = _cached_token(self.institution) or self._fetch_token()
            else:
                self._token = ""
        return {"Authorization": f"Bearer {self._token}"} if self._token else {}

    # --- requests ------------------------------------------------------------------------
    def url(self, path: str) -> str:
        return path if path.startswith(("http://", "https://")) else f"{self.base_url}/{path}"

    def get_json(
        self,
        path: str,
        params: dict | None = None,
        *,
        paging: bool = False,
        stop: threading.Event | None = None,
    ) -> dict:
        """GET a FHIR JSON document, retrying transient failures within the policy's budget.

        `paging=True` marks a server-given next link: a 404 there raises PageExpired.
        `stop`: once set, no further attempt is made (a page fetched ahead, no longer wanted).
        """
        url = self.url(path)
        if paging:
            self._check_same_server(url)
        waited, refreshed, last = 0.0, False, None
        for attempt in range(self.policy.attempts):
            try:
                return self._attempt(url, params, paging=paging)
            except _TokenRejected:
                if refreshed:
                    last = PermanentError(
                        _("The hospital keeps rejecting the platform's access token.")
                    )
                    break
                refreshed = True
                self._headers(refresh=True)
                continue
            except _Retry as retry:
                last = retry.error
                delay = min(self.policy.max_delay, self.policy.base_delay * 2**attempt)
                delay = delay * random.uniform(0.5, 1.0)  # noqa: S311 - jitter, not security
                if retry.after is not None:
                    delay = max(delay, retry.after)
                if waited + delay > self.policy.budget:
                    break
                logger.info(
                    "fhir retry institution=%s attempt=%d wait=%.1fs reason=%s",
                    self.institution.pk,
                    attempt + 1,
                    delay,
                    last.detail,
                )
                if stop is not None and self.sleep is time.sleep:
                    stop.wait(delay)  # the same wait, cut short once the page is not wanted
                else:
                    self.sleep(delay)
                waited += delay
                if stop is not None and stop.is_set():
                    break
        raise TransientError(
            _("The hospital kept failing after several attempts: %(reason)s")
            % {"reason": last.message if last else _("no answer")},
            detail=last.detail if last else "",
        )

    def _check_same_server(self, url: str) -> None:
        base, target = urlsplit(self.base_url), urlsplit(url)
        if (base.scheme, base.netloc) != (target.scheme, target.netloc):
            raise PermanentError(_("The hospital sent a paging link to another server."))

    def _attempt(self, url, params, *, paging) -> dict:
        try:
            response = self.http.get(url, params=params, headers=self._headers())
            body = response.content
        except httpx.TimeoutException as exc:
            raise _Retry(
                TransientError(_("The hospital did not answer in time."), detail=type(exc).__name__)
            ) from None
        except httpx.TransportError as exc:
            raise _Retry(
                TransientError(
                    _("The connection to the hospital was interrupted."), detail=type(exc).__name__
                )
            ) from None
        status = response.status_code
        if status == 200:
            try:
                # Decimals keep the digits they were sent with (FHIR: precision is significant).
                document = fhirjson.loads(body)
            except ValueError:  # json.JSONDecodeError and UnicodeDecodeError are ValueErrors
                raise _Retry(
                    TransientError(
                        _("The hospital sent an unreadable page."), detail="invalid JSON"
                    )
                ) from None
            if not isinstance(document, dict) or "resourceType" not in document:
                raise _Retry(
                    TransientError(
                        _("The hospital sent something that is not FHIR."), detail="no resourceType"
                    )
                )
            return document
        if status == 401:
            raise _TokenRejected
        if status == 429:
            raise _Retry(
                TransientError(_("The hospital asked us to slow down."), detail="HTTP 429"),
                after=_retry_after(response),
            )
        if status >= 500:
            raise _Retry(
                TransientError(
                    _("The hospital's server had an error (HTTP %(status)s).") % {"status": status},
                    detail=f"HTTP {status}",
                ),
                after=_retry_after(response),
            )
        if status == 404 and paging:
            raise PageExpired(
                _("The hospital no longer answers a page of the results."), detail="HTTP 404"
            )
        if status in (404, 410):
            raise Gone(
                _("The hospital refused the request (HTTP %(status)s).") % {"status": status},
                detail=f"HTTP {status}: {_outcome_text(response)}",
            )
        raise PermanentError(
            _("The hospital refused the request (HTTP %(status)s).") % {"status": status},
            detail=f"HTTP {status}: {_outcome_text(response)}",
        )

    # --- searches, page by page ----------------------------------------------------------
    def everything(
        self, patient_id: str, *, since: dt.datetime | None, page_size: int, prepare=None
    ) -> Iterator["Page"]:
        """The pages of Patient/<id>/$everything; `since`: only what changed after it
        (`_since`, the operation's parameter). `prepare`: see _pages."""
        params = {"_count": page_size}
        if since:
            params["_since"] = since.isoformat()
        return self._pages(f"Patient/{patient_id}/$everything", params, prepare=prepare)

    def search(
        self,
        resource_type: str,
        params: dict,
        *,
        since: dt.datetime | None,
        page_size: int,
        prepare=None,
    ) -> Iterator["Page"]:
        """The pages of a search of `resource_type`; `since`: only what changed after it
        (`_lastUpdated=gt…`: a type search has no `_since`). `prepare`: see _pages."""
        first = {"_count": page_size}
        if since:
            first["_lastUpdated"] = f"gt{since.isoformat()}"
        return self._pages(resource_type, {**first, **params}, prepare=prepare)

    def resume(self, next_url: str, *, prepare=None) -> Iterator["Page"]:
        """The rest of a search from a next link stored with an earlier page. PageExpired if
        the server no longer answers it: the search must start again. `prepare`: see _pages."""
        return self._pages(next_url, None, first=False, prepare=prepare)

    def _pages(
        self, path: str, params: dict | None, *, first: bool = True, prepare=None
    ) -> Iterator["Page"]:
        # The next page is asked for while the caller stores this one (_Ahead: the hospital's
        # work and ours overlap, which B1 measured as a third of a sync spent waiting). The
        # caller still gets the pages in order, each with its next link, and an error where
        # that page would have been; a caller that stores each page with its next link
        # resumes exactly where it stopped (a page fetched ahead and not stored is asked again).
        # `prepare(resources)`, if given, is called on a page fetched ahead, in its thread, and
        # what it returns is the page's `prepared`: what the caller can work out of a page
        # before storing it, done while it stores the page before (None: nothing, or it failed).
        bundle, prepared = self.get_json(path, params, paging=not first), None
        while True:
            if bundle.get("resourceType") != "Bundle":
                raise TransientError(_("The hospital answered a search without a Bundle."))
            if not isinstance(bundle.get("entry", []), list):
                raise TransientError(
                    _("The hospital answered a search with a Bundle whose entries are not a list.")
                )
            page = Page(bundle, first=first, prepared=prepared)
            ahead = _Ahead(self, page.next_url, prepare) if page.next_url else None
            try:
                yield page
            except BaseException:  # the caller stopped (GeneratorExit) or failed on this page
                if ahead:
                    ahead.discard()
                raise
            if ahead is None:
                return
            (bundle, prepared), first = ahead.result(), False

    # --- FHIR operations -----------------------------------------------------------------
    def capability(self) -> dict:
        return self.get_json("metadata")

    def find_patient(self, identifier: str) -> str | None:
        """The id of the patient with this verified identifier at the institution, or None."""
        bundle = self.get_json("Patient", {"identifier": f"{IDENTITY_SYSTEM}|{identifier}"})
        ids = [
            entry["resource"]["id"]
            for entry in bundle.get("entry", [])
            if entry.get("resource", {}).get("resourceType") == "Patient"
        ]
        return ids[0] if len(ids) == 1 else None


class Page:
    """One Bundle of a search: its resources, its next link, and on a search's first page
    what the server announces (the total; its time, `meta.lastUpdated`)."""

    def __init__(self, bundle: dict, *, first: bool, prepared=None):
        self.bundle, self.first, self.prepared = bundle, first, prepared

    @property
    def resources(self) -> list:
        """What each entry holds as its resource (anything: a hostile page is not trusted)."""
        return [e.get("resource") for e in self.bundle.get("entry", []) if isinstance(e, dict)]

    @property
    def next_url(self) -> str | None:
        links = self.bundle.get("link", [])
        return next((link.get("url") for link in links if link.get("relation") == "next"), None)

    @property
    def total(self) -> int | None:
        """The number of resources the search holds, as announced on its first page."""
        total = self.bundle.get("total") if self.first else None
        return total if isinstance(total, int) else None

    @property
    def server_time(self) -> dt.datetime | None:
        """The server's time when it answered the first page: the high-water mark for the next
        incremental search (anything changed later is newer than what this search returns)."""
        if not self.first:
            return None
        return parse_fhir_datetime((self.bundle.get("meta") or {}).get("lastUpdated"))


class _Ahead:
    """A search's next page, fetched in a thread of its own while the caller stores the page
    before it (a standard-library thread rather than a pool: one request at a time, and nothing
    to shut down). The client's HTTP connection pool is thread-safe; the client makes no other
    request meanwhile, since its caller is storing a page."""

    def __init__(self, client: FHIRClient, url: str, prepare=None):
        self._stop = threading.Event()
        self._bundle: dict | None = None
        self._prepared = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(
            target=self._fetch, args=(client, url, prepare), name="fhir-page-ahead", daemon=True
        )
        self._thread.start()

    def _fetch(self, client: FHIRClient, url: str, prepare) -> None:
        try:
            self._bundle = client.get_json(url, paging=True, stop=self._stop)
        except BaseException as exc:  # handed to the caller where the page would have been
            self._error = exc
        else:
            if prepare is not None and not self._stop.is_set():
                try:
                    if self._bundle.get("resourceType") == "Bundle":
                        self._prepared = prepare(Page(self._bundle, first=False).resources)
                except Exception:  # the caller's work, redone by the caller: not the page's
                    logger.exception("preparing a page fetched ahead failed")
        finally:
            # A refused token is fetched again through the cache, which may be the database:
            # this thread's connections are its own, closed with it.
            db.connections.close_all()

    def result(self) -> tuple[dict, object]:
        """The page's Bundle and what `prepare` made of it (None: nothing)."""
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._bundle, self._prepared

    def discard(self) -> None:
        """Not wanted after all: no retry is started, the request in flight (if any) is let
        finish — at most the client's timeout — so that the client closes its connections
        only once nothing uses them, and its outcome is dropped."""
        self._stop.set()
        self._thread.join()


class _Retry(Exception):
    def __init__(self, error: FHIRError, after: float | None = None):
        self.error, self.after = error, after


class _TokenRejected(Exception):
    pass
