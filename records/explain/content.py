"""The content library: plain descriptions of tests, vital signs, diagnoses and drug classes,
kept as data (records/explain/content/*.json), each entry in Korean and English with its
source. Read and checked once, on first use; a broken file stops the explainer loudly
(ContentError) instead of showing half an entry.

An entry names the codes it explains. Lab tests and vital signs match a code exactly (LOINC,
HIRA EDI); a diagnosis entry matches a KCD-8 (or ICD-10) code and the codes under it (E11
explains E11.9); a KCD-8 chapter matches a range of codes (I00–I99); a drug class matches an
ATC code and the codes under it (C10AA explains C10AA05). Nothing else is guessed: a code no
entry names is not covered, and the page says so with the coded name.
"""

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from django.utils.translation import get_language

DIRECTORY = Path(__file__).resolve().parent / "content"

# Code system URLs → the short names entries use.
SYSTEMS = {
    "http://loinc.org": "loinc",
    "http://www.hl7korea.or.kr/CodeSystem/hira-edi-procedure": "edi",
    "http://www.hl7korea.or.kr/CodeSystem/hira-edi-medication": "edi-drug",
    "http://www.hl7korea.or.kr/CodeSystem/kostat-kcd-8": "kcd",
    "http://www.hl7korea.or.kr/CodeSystem/kostat-kcd-7": "kcd",
    # KCD-8 is the Korean modification of ICD-10: the same categories and chapters.
    "http://hl7.org/fhir/sid/icd-10": "kcd",
    "http://www.whocc.no/atc": "atc",
    "http://snomed.info/sct": "snomed",
    "http://www.nlm.nih.gov/research/umls/rxnorm": "rxnorm",
}
KINDS = {
    # kind: the text fields every entry of it has in both languages
    "lab": ("name", "what", "why", "high", "low"),
    "vital": ("name", "what", "why"),
    "condition": ("name", "what", "why"),
    "chapter": ("name", "what"),
    "drug_class": ("name", "what", "why"),
}
LANGUAGES = ("ko", "en")
SOURCE_FIELDS = ("publisher", "title", "url")
HANGUL = re.compile(r"[\uac00-\ud7a3]")
# Systems whose entries also explain the codes under them (a prefix); the rest match exactly.
HIERARCHICAL = {"kcd", "atc"}


class ContentError(ValueError):
    pass


@dataclass(frozen=True)
class Entry:
    id: str
    kind: str
    codes: tuple  # ((system, code), ...)
    text: dict  # {"ko": {...}, "en": {...}}
    source: dict
    range: tuple = ()  # a chapter's first and last code ("I00", "I99")
    # General adult critical limits (labs) or limits for urgent review (vital signs), in the
    # units they are written for: {"units": [...], "below": x, "above": y, "at_least": z,
    # "second": {...} (the diastolic of a blood pressure), "source": {...}}; None: none set.
    critical: dict | None = None
    # A vital sign's general adult guide, for a value sent with no range: {"units": [...],
    # "low": x, "high": y (both inclusive), "below": z (in when under it), "second": {...},
    # "source": {...}}; None: none set.
    guide: dict | None = None

    def about(self, language: str | None = None) -> dict:
        """The entry's text in `language` (the active one by default; Korean otherwise)."""
        language = (language or get_language() or "ko")[:2]
        return self.text.get(language) or self.text["ko"]


@dataclass(frozen=True)
class Match:
    entry: Entry
    level: str  # "exact", "group" (a KCD category or ATC class above the code), "chapter"


def validate(data: object, *, filename: str = "") -> list[Entry]:
    """The entries of one content file, or ContentError naming what is wrong."""
    where = filename or "content"
    if not isinstance(data, dict) or not isinstance(data.get("entries"), list):
        raise ContentError(f"{where}: expected an object with a list of entries")
    entries = []
    for index, raw in enumerate(data["entries"]):
        at = f"{where} entry {index} ({raw.get('id', '?') if isinstance(raw, dict) else '?'})"
        if not isinstance(raw, dict):
            raise ContentError(f"{at}: not an object")
        kind = raw.get("kind")
        if kind not in KINDS:
            raise ContentError(f"{at}: unknown kind {kind!r}")
        if not raw.get("id"):
            raise ContentError(f"{at}: no id")
        codes = []
        for code in raw.get("codes") or []:
            system, value = (code or {}).get("system"), (code or {}).get("code")
            if system not in set(SYSTEMS.values()) or not value:
                raise ContentError(f"{at}: bad code {code!r}")
            codes.append((system, str(value)))
        span = tuple(raw.get("range") or ())
        if kind == "chapter":
            if len(span) != 2 or not all(isinstance(c, str) for c in span):
                raise ContentError(f"{at}: a chapter needs a range of two codes")
        elif not codes:
            raise ContentError(f"{at}: no codes")
        text = raw.get("text") or {}
        for language in LANGUAGES:
            fields = text.get(language)
            if not isinstance(fields, dict):
                raise ContentError(f"{at}: no {language} text")
            for name in KINDS[kind]:
                value = fields.get(name)
                if not isinstance(value, str) or not value.strip():
                    raise ContentError(f"{at}: {language} {name} is missing")
                # A Korean name may be Latin letters ("AST(SGOT)", "CA-125"); sentences not.
                if language == "ko" and name != "name" and not HANGUL.search(value):
                    raise ContentError(f"{at}: ko {name} has no Korean text")
                if language == "en" and HANGUL.search(value):
                    raise ContentError(f"{at}: en {name} is not English")
        source = raw.get("source") or {}
        for name in SOURCE_FIELDS:
            if not isinstance(source.get(name), str) or not source[name].strip():
                raise ContentError(f"{at}: source {name} is missing")
        if not source["url"].startswith("https://"):
            raise ContentError(f"{at}: source url must be https")
        critical = _critical(raw.get("critical"), at) if "critical" in raw else None
        guide = _guide(raw.get("guide"), at) if "guide" in raw else None
        entries.append(
            Entry(
                id=raw["id"],
                kind=kind,
                codes=tuple(codes),
                text=text,
                source=source,
                range=span,
                critical=critical,
                guide=guide,
            )
        )
    return entries


LIMITS = ("below", "at_most", "above", "at_least")


GUIDE = ("low", "high", "below")


def _limits(raw: object, at: str, names=LIMITS) -> dict:
    if not isinstance(raw, dict):
        raise ContentError(f"{at}: critical limits must be an object")
    limits = {}
    for name in names:
        if name in raw:
            value = raw[name]
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ContentError(f"{at}: critical {name} must be a number")
            limits[name] = value
    if not limits:
        raise ContentError(f"{at}: critical limits name no bound")
    return limits


def _guide(raw: object, at: str) -> dict:
    """A vital sign's general adult guide, checked like critical limits."""
    return _critical(raw, at, names=GUIDE)


def _critical(raw: object, at: str, names=LIMITS) -> dict:
    """An entry's critical limits, checked: units, at least one bound, a source."""
    limits = _limits(raw, at, names)
    units = raw.get("units")
    if not isinstance(units, list) or not units or not all(isinstance(u, str) for u in units):
        raise ContentError(f"{at}: critical limits need their units")
    limits["units"] = units
    if "second" in raw:
        limits["second"] = _limits(raw["second"], at, names)
    source = raw.get("source") or {}
    for name in SOURCE_FIELDS:
        if not isinstance(source.get(name), str) or not source[name].strip():
            raise ContentError(f"{at}: critical source {name} is missing")
    if not source["url"].startswith("https://"):
        raise ContentError(f"{at}: critical source url must be https")
    limits["source"] = source
    return limits


class Library:
    """Every entry, indexed by (system, code); chapters by their ranges."""

    def __init__(self, entries: list[Entry]):
        self.entries = entries
        self.by_code: dict[tuple[str, str], Entry] = {}
        self.chapters = [e for e in entries if e.kind == "chapter"]
        ids = set()
        for entry in entries:
            if entry.id in ids:
                raise ContentError(f"entry id {entry.id!r} appears twice")
            ids.add(entry.id)
            for key in entry.codes:
                if key in self.by_code:
                    raise ContentError(
                        f"{key[0]} {key[1]} is in both {self.by_code[key].id} and {entry.id}"
                    )
                self.by_code[key] = entry

    def match(self, codings) -> Match | None:
        """The entry for a concept's codings ([{"system": url, "code": ...}]): an exact code
        first, in the codings' order; then a KCD or ATC group above a code; then a KCD chapter."""
        keys = [
            (SYSTEMS.get(c.get("system", "")), str(c.get("code", "")).strip())
            for c in codings
            if isinstance(c, dict) and c.get("code")
        ]
        keys = [(system, code) for system, code in keys if system]
        for key in keys:
            if key in self.by_code:
                return Match(self.by_code[key], "exact")
        for system, code in keys:
            if system not in HIERARCHICAL:
                continue
            plain = code.replace(".", "").upper()
            for length in range(len(plain) - 1, 0, -1):
                found = self.by_code.get((system, plain[:length]))
                if found:
                    return Match(found, "group")
        for system, code in keys:
            if system == "kcd":
                chapter = self.chapter(code)
                if chapter:
                    return Match(chapter, "chapter")
        return None

    def chapter(self, code: str) -> Entry | None:
        """The KCD-8 chapter a code falls in (by its first three characters)."""
        head = code.replace(".", "").upper()[:3]
        if len(head) < 3:
            return None
        for entry in self.chapters:
            first, last = entry.range
            if first <= head <= last:
                return entry
        return None


def load(directory: Path = DIRECTORY) -> Library:
    entries = []
    for path in sorted(directory.glob("*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as error:
            raise ContentError(f"{path.name}: not JSON ({error})") from error
        entries.extend(validate(data, filename=path.name))
    return Library(entries)


@lru_cache(maxsize=1)
def library() -> Library:
    """The shipped library, loaded and checked once per process."""
    return load()
