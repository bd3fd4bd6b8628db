"""FHIR JSON that keeps decimals as they were sent.

FHIR says the precision of a decimal is significant: `125.00` is not `125.0`. Python floats
(json's and orjson's default) drop it, so numbers with a fraction or an exponent are read as
`decimal.Decimal` (which keeps its digits) and written back as JSON numbers with exactly those
digits. Written here because neither library does both: orjson cannot read decimals, the
stdlib cannot write them as numbers. msgspec reads them (its `float_hook` gets each number's
text: 18 ms for a page of 1,000 resources, against the stdlib's 27 ms, which was a third of
the fetching thread's time in B1), the stdlib reads what msgspec refuses (so that every
document is read, or refused, as before: tests/test_fhirjson.py compares the two), and orjson
writes them through `orjson.Fragment`. One difference, found in QA: both readers stop at
Python's recursion limit, and msgspec starts a few frames nearer the top of the stack, so a
document nested within about five levels of that limit (about 990) is now read where the
stdlib refused it; the resource that deep is then refused by ingest (TOO_DEEP: nothing
writes more than 254 levels back), so the outcome is a refusal with a reason either way.
"""

import json
import re
from decimal import Decimal

import msgspec
import orjson

# orjson writes integers of up to 64 bits only; longer ones (rare, but valid JSON) stay exact
# as Decimal, which is written back with the same digits.
_LONGEST_INT = 18


def _int(text: str) -> int | Decimal:
    return int(text) if len(text.lstrip("-")) <= _LONGEST_INT else Decimal(text)


def _constant(name: str):
    # NaN and Infinity are not JSON (orjson, used before, refused them too): the document is
    # unreadable, like any other that is not JSON.
    raise json.JSONDecodeError(f"{name} is not a JSON number", name, 0)


# An escaped UTF-16 surrogate (\ud800–\udfff): the stdlib reads one without its pair as a
# lone surrogate, a str no page can write out (UnicodeEncodeError).
_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F]")


# Numbers with a fraction or an exponent as Decimal, from their text as sent.
_FAST = msgspec.json.Decoder(float_hook=Decimal)
# What the fast reader would read otherwise than _strict: an integer too long for orjson to
# write (19 digits or more: a Decimal here; msgspec makes it an int), looked for anywhere (a
# long number in a string only costs the slower reader).
_LONG_DIGITS = re.compile(rb"[0-9]{%d}" % (_LONGEST_INT + 1))


def loads(data: bytes | str):
    """Parse JSON; numbers with a fraction or exponent become Decimal (digits kept). A lone
    surrogate (valid JSON syntax, not text) makes the document unreadable."""
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    if not _LONG_DIGITS.search(raw):
        try:
            # msgspec refuses what is not UTF-8 JSON (NaN, control characters, a lone
            # surrogate, another encoding, nesting beyond its limit…): the stdlib then reads it
            # as it always did, or refuses it with its reason.
            return _FAST.decode(raw)
        except (msgspec.DecodeError, RecursionError):
            pass
    return _strict(data, raw)


def _strict(data: bytes | str, raw: bytes):
    try:
        value = json.loads(data, parse_float=Decimal, parse_int=_int, parse_constant=_constant)
    except RecursionError:  # hostile nesting: an unreadable document, like any other
        raise json.JSONDecodeError("nested too deeply", "", 0) from None
    if _SURROGATE.search(raw):  # rare (pairs escaped for emoji): only then is there one to find
        try:
            orjson.dumps(value, default=str)
        except TypeError as exc:
            if "surrogates" in str(exc):
                raise json.JSONDecodeError("a lone surrogate, not text", "", 0) from None
    return value


def _unknown(value):
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def dumps_bytes(
    value, *, sort_keys: bool = False, indent: bool = False, fallback=_unknown
) -> bytes:
    """UTF-8 JSON without spaces (or indented by 2); Decimals as numbers with their digits;
    `fallback` turns other types orjson does not know into ones it does."""

    def default(item):
        if isinstance(item, Decimal):
            return orjson.Fragment(str(item))  # str() gives the digits it was read with
        return fallback(item)

    option = (orjson.OPT_SORT_KEYS if sort_keys else 0) | (orjson.OPT_INDENT_2 if indent else 0)
    return orjson.dumps(value, default=default, option=option)


def dumps(value, *, sort_keys: bool = False, indent: bool = False, fallback=_unknown) -> str:
    return dumps_bytes(value, sort_keys=sort_keys, indent=indent, fallback=fallback).decode()


class Encoder(json.JSONEncoder):
    """For JSONField(encoder=...): Django calls json.dumps(value, cls=Encoder), which comes here."""

    def encode(self, o) -> str:
        return dumps(o, sort_keys=self.sort_keys, indent=self.indent is not None)


class Decoder(json.JSONDecoder):
    """For JSONField(decoder=...): decimals read back as Decimal, with their digits."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("parse_float", Decimal)
        kwargs.setdefault("parse_int", _int)
        super().__init__(*args, **kwargs)
