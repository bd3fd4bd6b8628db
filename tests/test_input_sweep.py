"""Property-based sweep of hostile input over every route (issue 14, item 5).

Every URL pattern of the project (walked from the resolver: every API operation, every HTML
page and form view, allauth's pages and its headless API) is driven with GET and POST (and PUT,
PATCH, DELETE under /api/) carrying hostile values — NUL characters, invalid UTF-8, JSON nested
100,000 deep, huge strings, wrong types — in the path, the query string, a form body, a
multipart body or a JSON body, as the logged-in patient and anonymously. Nothing may answer
5xx, and a refused request (4xx) must leave the row count of every table unchanged (nothing
stored half-way). Audit events and sessions are left out of the count: recording a refused
attempt (a failed login) and a session for the request are intended.

Left out: the admin (staff only; a patient is redirected before any form) and the mock
hospitals (test harness, not product). EXAMPLES cases per (route, method); the total is printed.
"""

import json
import re
import uuid
from urllib.parse import quote, quote_from_bytes

import pytest
from django.apps import apps
from django.core.cache import cache
from django.db import connection
from django.urls import URLPattern, URLResolver, get_resolver
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from institutions.models import Source, SyncRun
from records.models import Record
from tests.factories import make_share

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

EXAMPLES = 8
EXCLUDED_PREFIXES = ("admin/", "mock/", "static/")
# Routes that would end the cast's session or account if a value happened to be accepted.
EXCLUDED_NAMES = {"account_logout", "delete_account"}
UNCOUNTED = {"audit_auditevent", "django_session", "phr_cache"}
FIELDS = [
    "q", "region", "type_code", "code", "category", "source", "date_from", "date_to", "text",
    "cursor", "page_size", "label", "purpose", "categories", "sources", "expires_at",
    "passcode", "allow_download", "notify_on_open", "recipient", "name", "email", "login",
    "password", "password1", "password2", "full_name", "birth_date", "sex", "phone", "confirm",
    "institution", "consent", "file", "action", "key", "token", "id",
]  # fmt: skip


def _routes(patterns=None, prefix=""):
    """(path template, converter names, route name) for every URL pattern."""
    for pattern in patterns if patterns is not None else get_resolver().url_patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            yield from _routes(pattern.url_patterns, route)
        elif isinstance(pattern, URLPattern):
            yield route.lstrip("^").rstrip("$"), pattern.name


ROUTES = sorted(
    {
        (route, name)
        for route, name in _routes()
        if not route.startswith(EXCLUDED_PREFIXES) and name not in EXCLUDED_NAMES
    },
    key=lambda r: r[0],
)
PARAMETER = re.compile(r"<(?:(\w+):)?(\w+)>|\(\?P<(\w+)>[^)]*\)")

NUL_TEXT = st.text(max_size=12).map(lambda s: f"{s}\x00{s}")
BAD_UTF8 = st.sampled_from([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"a\xfe\xffb", b"\x80"])
HUGE = st.integers(5_000, 120_000).map(lambda n: "x" * n)
WRONG_TYPE = st.one_of(
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.none(),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=4), st.integers(), max_size=3),
)
DEEP = st.integers(65, 100_000).map(lambda n: ("[" * n + "]" * n).encode())
HOSTILE = st.one_of(NUL_TEXT, BAD_UTF8, HUGE, WRONG_TYPE, DEEP)


def _encoded(value) -> str:
    """A value as it travels in a URL (percent-encoded, invalid bytes kept invalid)."""
    if isinstance(value, bytes):
        return quote_from_bytes(value, safe="")
    return quote(value if isinstance(value, str) else json.dumps(value), safe="")


def _json_body(fields: list[str], value) -> bytes:
    if isinstance(value, bytes):  # raw bytes: invalid UTF-8 inside a string, or a deep document
        if value.startswith(b"["):
            return value
        return b"{%s}" % b", ".join(b'"%s": "%s"' % (f.encode(), value) for f in fields)
    return json.dumps(dict.fromkeys(fields, value)).encode()


# Fields of the JSON endpoints that are not in the OpenAPI schema (SHL, allauth's headless API).
EXTRA_FIELDS = {
    "shl/": ["recipient", "passcode", "embeddedLengthMax"],
    "_allauth/": ["email", "password", "key", "code", "token"],
}


def _schema_fields() -> dict[str, list[str]]:
    """route prefix → the query parameters and body properties its API operations take."""
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    components = schema.get("components", {}).get("schemas", {})
    fields: dict[str, set] = {}
    for path, operations in schema["paths"].items():
        route = re.sub(r"\{[^}]+\}", "<>", path.lstrip("/"))
        names = fields.setdefault(route, set())
        for operation in operations.values():
            names.update(p["name"] for p in operation.get("parameters", []) if p["in"] == "query")
            for content in operation.get("requestBody", {}).get("content", {}).values():
                ref = content.get("schema", {}).get("$ref", "")
                names.update(components.get(ref.rsplit("/", 1)[-1], {}).get("properties", {}))
    return {route: sorted(names) for route, names in fields.items() if names}


def _candidates(route: str, schema_fields: dict[str, list[str]]) -> list[str]:
    shape = PARAMETER.sub("<>", route)
    for prefix, names in EXTRA_FIELDS.items():
        if shape.startswith(prefix):
            return names
    return schema_fields.get(shape) or FIELDS


@pytest.fixture
def world(client, patient, other_patient, kr_sources):
    share, token = make_share(patient, allow_download=True, base_url="http://testserver")
    encoded = share.shlink.removeprefix("shlink:/")
    import base64

    manifest = json.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))
    values = {
        "uuid": [
            str(Record.objects.filter(patient=patient).first().code),
            str(Source.objects.filter(patient=patient).first().code),
            str(SyncRun.objects.filter(source__patient=patient).first().code),
            str(share.code),
            str(uuid.uuid4()),
        ],
        "str": [token, manifest["url"].rsplit("/", 1)[1], "2345-7", "x"],
        "slug": ["lab", "vital", "medication", "other"],
        "int": ["1", "2"],
    }
    tables = sorted(
        model._meta.db_table
        for model in apps.get_models()
        if model._meta.managed and model._meta.db_table not in UNCOUNTED
    )
    return {"patient": patient, "values": values, "tables": tables}


def _counts(tables) -> tuple:
    # One query for every table, so counting does not dominate the sweep.
    # Table names come from the models, not from input.
    sql = "SELECT " + ", ".join(f'(SELECT count(*) FROM "{t}")' for t in tables)  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetchone()


def _path(route: str, data, values: dict, hostile=None) -> str:
    """The route with each parameter filled: with `hostile`, or with a real value of its kind
    (the cast's own ids, the share's token and manifest id) so that views run past lookup."""

    def fill(match):
        if hostile is not None:
            return _encoded(hostile)
        converter = match.group(1) or "str"
        return data.draw(st.sampled_from(values.get(converter, values["str"])))

    return "/" + PARAMETER.sub(fill, route)


def _request(client, method, path, where, fields, value):
    pairs = "&".join(f"{field}={_encoded(value)}" for field in fields)
    if where == "query":
        return client.generic(method, path, QUERY_STRING=pairs)
    if where == "json":
        return client.generic(method, path, _json_body(fields, value), "application/json")
    if where == "form":
        return client.generic(method, path, pairs.encode(), "application/x-www-form-urlencoded")
    # multipart: the value as a text field (bytes as they are) next to a small file
    boundary = "hostileboundary"
    raw = value if isinstance(value, bytes) else str(value).encode()
    body = b"".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"\r\n\r\n'.encode()
        + raw
        + b"\r\n"
        for field in fields
    ) + (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
        f'filename="x.json"\r\nContent-Type: application/json\r\n\r\n'.encode()
        + b"{}"
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return client.generic(method, path, body, f"multipart/form-data; boundary={boundary}")


def test_hostile_input_never_5xx_and_never_half_stored(client, world):
    total = {"requests": 0, "refused": 0}
    schema_fields = _schema_fields()
    for route, _name in ROUTES:
        methods = ["GET", "POST"] + (["PUT", "PATCH", "DELETE"] if route.startswith("api/") else [])
        for method in methods:
            _sweep(client, world, route, method, _candidates(route, schema_fields), total)
    assert total["requests"] >= 200
    print(f"hostile sweep: {len(ROUTES)} routes, {total['requests']} requests, "
          f"{total['refused']} refused (4xx), 0 server errors")  # fmt: skip


def _sweep(client, world, route, method, candidates, total):
    @given(
        data=st.data(),
        hostile=HOSTILE,
        where=st.sampled_from(["path", "query", "form", "multipart", "json"]),
        fields=st.lists(st.sampled_from(candidates), min_size=1, max_size=3, unique=True),
        as_patient=st.booleans(),
    )
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(data, hostile, where, fields, as_patient):
        cache.clear()  # rate limits (tested elsewhere) would stop the sweep
        if as_patient:
            client.force_login(world["patient"])
        else:
            client.logout()
        in_path = where == "path" and "<" in route
        path = _path(route, data, world["values"], hostile if in_path else None)
        if where == "path" or (method in ("GET", "DELETE") and where != "query"):
            where = "query"  # (a hostile path also gets a hostile query value)
        before = _counts(world["tables"])

        response = _request(client, method, path, where, fields, hostile)

        status = response.status_code
        if response.streaming:  # read to the end: the test client then closes its file
            b"".join(response.streaming_content)
        assert status < 500, (method, path, where, fields, repr(hostile)[:200], status)
        total["requests"] += 1
        if 400 <= status < 500:
            total["refused"] += 1
            assert _counts(world["tables"]) == before, (method, path, where, fields, status)

    run()
