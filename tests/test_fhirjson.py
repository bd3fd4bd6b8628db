"""records.fhirjson reads FHIR JSON with each decimal's digits (msgspec, and the standard
library for whatever msgspec refuses): every document is read, or refused, as the standard
library alone reads it — but for nesting within a few levels of Python's recursion limit (see
records.fhirjson), where either outcome is safe."""

import json
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from records import fhirjson


def _typed(value):
    """The value with each number's type and digits, comparable (Decimal("1.50") is not 1.5)."""
    if isinstance(value, dict):
        return {key: _typed(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_typed(item) for item in value]
    if isinstance(value, Decimal):
        return ("decimal", str(value))
    return (type(value).__name__, value)


def _both(text):
    """(what loads gives, what the standard library alone gives): a value or the error type."""
    raw = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    results = []
    for read in (fhirjson.loads, lambda data: fhirjson._strict(data, raw)):
        try:
            results.append(_typed(read(text)))
        except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError
            results.append(type(exc).__name__)
    return results


NUMBERS = st.sampled_from(
    [
        "0", "-0", "1", "-7", "125.00", "1.50", "0.1e1", "1E400", "1e-7", "-0.0", "5e5",
        "123456789012345678", "1234567890123456789", "-12345678901234567890",
        "3.14159265358979323846",
    ]
)  # fmt: skip
STRINGS = st.text(max_size=12) | st.sampled_from(
    ['"\\ud83d\\ude00"', '"\\ud800"', '"\\u0000"', '"x\\u0007y"', '"\\"\\\\"']
)


def _scalar(draw_string):
    return NUMBERS | STRINGS.map(json.dumps) | st.sampled_from(["true", "false", "null"])


JSON_TEXT = st.recursive(
    _scalar(None),
    lambda inner: (
        st.lists(inner, max_size=4).map(lambda items: "[" + ",".join(items) + "]")
        | st.lists(st.tuples(st.text(max_size=6), inner), max_size=4).map(
            lambda pairs: "{" + ",".join(f"{json.dumps(k)}:{v}" for k, v in pairs) + "}"
        )
    ),
    max_leaves=20,
)


@settings(max_examples=400, deadline=None)
@given(JSON_TEXT)
def test_every_json_document_is_read_as_the_standard_library_reads_it(text):
    fast, strict = _both(text)
    assert fast == strict
    fast, strict = _both(text.encode())
    assert fast == strict


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=40) | JSON_TEXT.map(lambda t: t[: len(t) // 2].encode()))
def test_what_is_not_json_is_refused_as_the_standard_library_refuses_it(data):
    fast, strict = _both(data)
    assert fast == strict


@pytest.mark.parametrize(
    "text",
    [
        '{"a":NaN}',
        '{"a":Infinity}',
        '{"a":"\\ud800"}',  # a lone surrogate
        '{"a":"x\x01y"}',  # a control character
        "[" * 5000 + "]" * 5000,  # nesting beyond both readers
        '\ufeff{"a":1}',  # a byte order mark in text (as bytes, UTF-8's is read, as before)
        '{"a":1} x',
    ],
)
def test_hostile_documents_are_refused_as_before(text):
    with pytest.raises(json.JSONDecodeError):
        fhirjson.loads(text)
    fast, strict = _both(text.encode("utf-8", "surrogatepass"))
    assert fast == strict


def test_decimals_keep_their_digits_and_long_integers_stay_exact():
    value = fhirjson.loads(b'{"a":125.00,"b":1234567890123456789012,"c":18,"d":1e2}')
    assert _typed(value) == {
        "a": ("decimal", "125.00"),
        "b": ("decimal", "1234567890123456789012"),
        "c": ("int", 18),
        "d": ("decimal", "1E+2"),
    }
    assert fhirjson.dumps(value) == '{"a":125.00,"b":1234567890123456789012,"c":18,"d":1E+2}'


def test_a_document_in_utf_16_is_read_as_before():
    text = '{"name":"홍길동","value":1.50}'
    assert _both(text.encode("utf-16"))[0] == _both(text.encode("utf-16"))[1]


def test_nesting_near_the_recursion_limit_is_read_or_refused_never_a_crash():
    """msgspec reads a few levels deeper than the standard library (QA: 955–959 under
    pytest, read where the standard library refused); whatever is read is refused by ingest
    as too deep to write back, and nothing raises but the refusal of a document."""
    from records.projection import canonical_json

    for depth in range(900, 1100):
        document = ("[" * depth + "]" * depth).encode()
        try:
            value = fhirjson.loads(document)
        except json.JSONDecodeError:
            continue
        with pytest.raises(TypeError):  # ingest: TOO_DEEP
            canonical_json({"resourceType": "Basic", "id": "b", "extension": value})
