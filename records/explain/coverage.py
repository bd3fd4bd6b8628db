"""How much of a set of FHIR resources the content library explains: for each kind (lab
tests, vital signs, diagnoses, medications), the distinct codes seen and those an entry
explains (an exact entry; for diagnoses also a KCD category, and separately a chapter only).
Pure: resources in, counts out (tests measure the demo's generated data and the fixtures)."""

from dataclasses import dataclass, field

from records.explain.content import library
from records.projection import main_concept, project

KINDS = ("lab", "vital", "condition", "medication")


@dataclass
class Tally:
    total: set = field(default_factory=set)
    explained: set = field(default_factory=set)
    chapter_only: set = field(default_factory=set)

    @property
    def missing(self) -> set:
        return self.total - self.explained - self.chapter_only

    def figure(self) -> str:
        return f"{len(self.explained)}/{len(self.total)}"


def _kind(resource: dict, category: str) -> str | None:
    if resource.get("resourceType") == "Observation":
        return {"lab": "lab", "vital": "vital"}.get(category)
    if resource.get("resourceType") == "Condition":
        return "condition"
    if resource.get("resourceType") in ("MedicationRequest", "MedicationStatement"):
        return "medication"
    return None


def measure(resources) -> dict[str, Tally]:
    """{kind: Tally} over `resources`; a code is the projected one (system, code)."""
    tallies = {kind: Tally() for kind in KINDS}
    content = library()
    for resource in resources:
        columns = project(resource)
        kind = _kind(resource, columns.category)
        if kind is None or not columns.code_value:
            continue
        key = (columns.code_system, columns.code_value)
        tally = tallies[kind]
        tally.total.add(key)
        match = content.match(main_concept(resource).get("coding") or [])
        if match is None:
            continue
        (tally.chapter_only if match.level == "chapter" else tally.explained).add(key)
    return tallies
