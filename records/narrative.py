"""What a record says in words, for its detail page: the text of a clinical note, the
description and activities of a care plan, the targets of a goal.

Read from the raw resource (already validated when it was stored), defensively: a field of the
wrong shape is skipped, never an error page.
"""

import base64
import binascii
import codecs

import nh3

from records import charts, fhirjson
from records.codes import codings
from records.units import unit_suffix

# A note larger than this is cut (with a notice): a page must stay a page.
NOTE_MAX_CHARS = 200_000
# HTML notes are sanitised with nh3 (ammonia): the allow-list approach, maintained, and fast.
# Images are dropped too: a note's <img> would load from wherever it points (CSP refuses it
# anyway, which would only leave a broken image).
NOTE_TAGS = nh3.ALLOWED_TAGS - {"img", "map", "area"}
NOTE_URL_SCHEMES = {"http", "https", "mailto"}


def _concept(value) -> str:
    """A CodeableConcept in words: its text, else the first coding's display or code."""
    if not isinstance(value, dict):
        return ""
    if isinstance(value.get("text"), str) and value["text"]:
        return value["text"]
    for coding in value.get("coding") or []:
        if isinstance(coding, dict) and (coding.get("display") or coding.get("code")):
            return str(coding.get("display") or coding.get("code"))
    return ""


def _concepts(values) -> list[str]:
    return [text for text in (_concept(v) for v in values or [] if isinstance(v, dict)) if text]


def _reference(value) -> str:
    return value.get("display", "") if isinstance(value, dict) else ""


def _quantity(value) -> str:
    if not isinstance(value, dict) or value.get("value") is None:
        return ""
    unit = unit_suffix(value.get("unit") or value.get("code") or "")
    return f"{value.get('comparator', '')}{value['value']}{unit}".strip()


def _media_type(content_type) -> str:
    return str(content_type or "").split(";", 1)[0].strip().lower()


def _charset(content_type) -> str:
    """The charset parameter of a media type ("text/plain; charset=EUC-KR"), if Python knows it;
    UTF-8 otherwise (FHIR's default)."""
    for parameter in str(content_type or "").split(";")[1:]:
        name, _sep, value = parameter.partition("=")
        if name.strip().lower() == "charset":
            try:
                return codecs.lookup(value.strip().strip('"')).name
            except LookupError:
                break
    return "utf-8"


def _decoded(data: str, content_type) -> str | None:
    try:
        raw = base64.b64decode(data, validate=False)
    except (binascii.Error, ValueError):
        return None
    return raw.decode(_charset(content_type), errors="replace")


def sanitise_html(html: str) -> str:
    """HTML from a hospital or a file, safe to put in our page (no script, handler or style).

    Templates reach it through the `sanitised_html` filter, the one place that marks it safe.
    """
    return nh3.clean(html, tags=NOTE_TAGS, url_schemes=NOTE_URL_SCHEMES)


def note_contents(resource: dict) -> list[dict]:
    """A DocumentReference's attachments as the page shows them.

    Each item is {"title", "kind": "text" | "html" | "elsewhere", "text" | "html" | "url",
    "cut": bool}: plain text is shown as it is (escaped by the template), HTML only through the
    `sanitised_html` filter, and an attachment without inline text (a PDF, XML or a URL) is
    named.
    """
    items = []
    for content in resource.get("content") or []:
        attachment = content.get("attachment") if isinstance(content, dict) else None
        if not isinstance(attachment, dict):
            continue
        media = _media_type(attachment.get("contentType"))
        title = attachment.get("title") or ""
        data = attachment.get("data")
        text = (
            _decoded(data, attachment.get("contentType"))
            if isinstance(data, str) and data
            else None
        )
        if text is not None and media in ("text/plain", "text/html"):
            cut = len(text) > NOTE_MAX_CHARS
            text = text[:NOTE_MAX_CHARS]
            if media == "text/html":
                # Raw here; the template sanitises it (`sanitised_html`), escaping by default.
                items.append({"title": title, "kind": "html", "html": text, "cut": cut})
            else:
                items.append({"title": title, "kind": "text", "text": text, "cut": cut})
        else:
            items.append(
                {
                    "title": title,
                    "kind": "elsewhere",
                    "url": attachment.get("url") or "",
                    "media": media,
                }
            )
    return items


def care_plan_facts(resource: dict) -> dict:
    """A CarePlan in words: title, description, categories, what it addresses, activities."""
    activities = []
    for activity in resource.get("activity") or []:
        if not isinstance(activity, dict):
            continue
        detail = activity.get("detail") if isinstance(activity.get("detail"), dict) else {}
        name = (
            _concept(detail.get("code"))
            or detail.get("description", "")
            or _reference(activity.get("reference"))
        )
        if not name:
            continue
        activities.append(
            {
                "name": name,
                "status": detail.get("status", ""),
                "reason": _concept(detail.get("statusReason")),
            }
        )
    return {
        "title": resource.get("title", ""),
        "description": resource.get("description", ""),
        "categories": _concepts(resource.get("category")),
        "addresses": [_reference(a) for a in resource.get("addresses") or [] if _reference(a)],
        "activities": activities,
    }


def _target(target: dict) -> str:
    measure = _concept(target.get("measure"))
    detail = ""
    if isinstance(target.get("detailRange"), dict):
        low = _quantity(target["detailRange"].get("low"))
        high = _quantity(target["detailRange"].get("high"))
        low_value = (target["detailRange"].get("low") or {}).get("value")
        # "160–180 lbs" rather than "160 lbs–180 lbs" when both ends share the unit.
        same_unit = low and high and low.split(" ", 1)[1:] == high.split(" ", 1)[1:]
        detail = f"{low_value}–{high}" if same_unit else "–".join(p for p in (low, high) if p)
    elif isinstance(target.get("detailQuantity"), dict):
        detail = _quantity(target["detailQuantity"])
    elif isinstance(target.get("detailString"), str):
        detail = target["detailString"]
    elif isinstance(target.get("detailCodeableConcept"), dict):
        detail = _concept(target["detailCodeableConcept"])
    words = ": ".join(part for part in (measure, detail) if part)
    return words


def goal_facts(resource: dict) -> dict:
    """A Goal in words: description, status, achievement, targets (with due dates), outcome."""
    targets = []
    for target in resource.get("target") or []:
        if isinstance(target, dict):
            words = _target(target)
            due = target.get("dueDate") or ""
            if words or due:
                targets.append({"words": words, "due": due})
    return {
        "description": _concept(resource.get("description")),
        "lifecycle": resource.get("lifecycleStatus", ""),
        "achievement": _concept(resource.get("achievementStatus")),
        "priority": _concept(resource.get("priority")),
        "start": resource.get("startDate", ""),
        "targets": targets,
        "outcomes": _concepts(resource.get("outcomeCode")),
        "addresses": [_reference(a) for a in resource.get("addresses") or [] if _reference(a)],
    }


def facts_for(resource: dict) -> dict:
    """What the detail page shows in words for this kind of resource (empty for the others)."""
    kind = resource.get("resourceType")
    if kind == "DocumentReference":
        return {"notes": note_contents(resource)}
    if kind == "CarePlan":
        return {"care_plan": care_plan_facts(resource)}
    if kind == "Goal":
        return {"goal": goal_facts(resource)}
    return {}


def detail_context(record) -> dict:
    """The template context of a record's detail article, the same for the patient's page and
    a share recipient's (templates/records/_record_detail.html)."""
    return {
        "record": record,
        "codings": codings(record.resource),
        "flag": charts.flag(record),
        "raw": fhirjson.dumps(record.resource, indent=True),  # decimals keep their digits
        **facts_for(record.resource),
    }
