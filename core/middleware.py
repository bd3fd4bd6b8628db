"""Request hygiene every app relies on: hostile input refused first, nothing cached."""

import re
from itertools import accumulate
from urllib.parse import unquote_to_bytes

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent
from django.http import HttpResponse, JsonResponse
from django.http.multipartparser import MultiPartParserError
from django.utils.cache import patch_cache_control
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop


class NoStoreMiddleware:
    """Nothing the app renders is kept by browsers or shared caches (back button, shared PCs,
    proxies): every response without its own Cache-Control gets `no-store, private`. Static
    files are served before this by WhiteNoise, with their own long-lived headers."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if not response.has_header("Cache-Control"):
            patch_cache_control(response, no_store=True, private=True)
        return response


# --- Hostile input -------------------------------------------------------------------------

# Deeper than any real FHIR resource or API document (a Bundle of resources is < 15 levels).
JSON_MAX_DEPTH = 64
_JSON_TYPES = ("application/json", "application/fhir+json", "application/json-patch+json")
_JSON_ANSWERS = ("/api/", "/_allauth/", "/shl/")  # clients of these read JSON, not pages
_BRACKETS = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)


class HostileInput(Exception):
    def __init__(self, message, status=400):
        super().__init__(message)
        self.message, self.status = message, status


class HostileInputMiddleware:
    """Refuses, before anything else reads the request, input no legitimate client sends and
    PostgreSQL or Python cannot take: NUL characters (text columns refuse them: DataError) and
    invalid UTF-8 in the path, query string, headers or body; JSON nested beyond
    JSON_MAX_DEPTH (parsers recurse: RecursionError); bodies over DATA_UPLOAD_MAX_MEMORY_SIZE
    (413). API-like paths are answered in JSON, pages with a plain 400/413.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            self._check(request)
        except HostileInput as refused:
            return _refusal(request, refused)
        return self.get_response(request)

    def _check(self, request) -> None:
        environ = request.META
        # WSGI hands the path and query string over as latin-1 text of the raw bytes.
        raw_path = environ.get("PATH_INFO", "").encode("latin-1", "replace")
        _refuse_bad_text(unquote_to_bytes(raw_path))
        query = environ.get("QUERY_STRING", "").encode("latin-1", "replace")
        _refuse_bad_text(unquote_to_bytes(query.replace(b"+", b" ")))
        for name, value in environ.items():
            if name.startswith("HTTP_") and isinstance(value, str) and "\x00" in value:
                raise HostileInput(INVALID_CHARACTERS)
        if request.method in ("GET", "HEAD", "OPTIONS"):
            return
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if limit is not None and length > limit:
            raise HostileInput(TOO_LARGE, status=413)
        content_type = request.content_type or ""
        if content_type in _JSON_TYPES:
            _refuse_bad_json(_body(request))
        elif content_type == "application/x-www-form-urlencoded":
            _refuse_bad_text(unquote_to_bytes(_body(request).replace(b"+", b" ")))
        elif content_type == "multipart/form-data":
            # The body is read first, so that views which read request.body themselves
            # (allauth's headless API) still can; it is bounded by the length check above.
            _body(request)
            try:
                fields = request.POST
            except RequestDataTooBig as exc:
                raise HostileInput(TOO_LARGE, status=413) from exc
            except (TooManyFieldsSent, MultiPartParserError) as exc:
                raise HostileInput(INVALID_BODY) from exc
            for values in fields.lists():
                for value in (values[0], *values[1]):
                    if "\x00" in value:
                        raise HostileInput(INVALID_CHARACTERS)


INVALID_CHARACTERS = gettext_noop("The request contains invalid characters.")
INVALID_BODY = gettext_noop("The request body cannot be read.")
TOO_DEEP = gettext_noop("The JSON document is nested too deeply.")
TOO_LARGE = gettext_noop("The request body is too large.")


def _body(request) -> bytes:
    try:
        return request.body
    except RequestDataTooBig as exc:  # a chunked body without Content-Length
        raise HostileInput(TOO_LARGE, status=413) from exc


def _refuse_bad_text(raw: bytes) -> None:
    if b"\x00" in raw:
        raise HostileInput(INVALID_CHARACTERS)
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        raise HostileInput(INVALID_CHARACTERS) from None


def _refuse_bad_json(body: bytes) -> None:
    """NUL (raw or escaped as \\u0000), invalid UTF-8, or nesting beyond JSON_MAX_DEPTH.

    The depth is measured without parsing: strings are blanked, then only brackets counted
    (bytes.translate and accumulate run in C), so a 100,000-deep body costs milliseconds and
    never reaches a recursive parser. Malformed JSON is left to the view's own parser (400).
    """
    if not body:
        return
    _refuse_bad_text(body)
    structure = _JSON_STRING.sub(b'""', body)
    brackets = structure.translate(None, _NOT_BRACKETS)
    if brackets and max(accumulate(_BRACKETS[b] for b in brackets)) > JSON_MAX_DEPTH:
        raise HostileInput(TOO_DEEP)
    # An escaped NUL: an odd run of backslashes before u0000 inside a string (JSON spells the
    # escape with a lower-case u, so the cheap test below rules out almost every body).
    if b"\\u0000" in body and any(map(_ESCAPED_NUL.search, _JSON_STRING.findall(body))):
        raise HostileInput(INVALID_CHARACTERS)


_NOT_BRACKETS = bytes(b for b in range(256) if b not in _BRACKETS)
_ESCAPED_NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")


def _refusal(request, refused: HostileInput):
    if request.path.startswith(_JSON_ANSWERS) or (request.content_type or "") in _JSON_TYPES:
        return JsonResponse({"detail": _(refused.message)}, status=refused.status)
    # Plain text: no template, nothing else of the request is read to build this answer.
    return HttpResponse(
        _(refused.message), status=refused.status, content_type="text/plain; charset=utf-8"
    )
