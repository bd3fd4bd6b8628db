"""The explainer's interface: records in, explanations with their source records out.

An engine implements `Explainer`. It is given records a scoped query returned
(`records_for(actor)`), never a patient or a user, so it cannot reach beyond what the reader
may see; every `Sentence` it returns names the records it was built from, and a page links
each sentence to them.
"""

import datetime as dt
from dataclasses import dataclass, field
from typing import Protocol

# How a sentence reads: plain information, something to look at with the clinician, or a
# prompt to contact them (a value the lab flagged critical, or far outside its range).
INFO, ATTENTION, URGENT = "info", "attention", "urgent"


@dataclass(frozen=True)
class Sentence:
    text: str
    records: tuple = ()  # the Record rows the sentence is built from
    tone: str = INFO


@dataclass
class Explanation:
    """What one test, vital sign, diagnosis or medication is, and what its values say."""

    name: str  # the coded name as the source sent it
    code: str = ""  # "LOINC 4548-4", "KCD-8 E11.9": shown when there is no entry
    entry: object = None  # records.explain.content.Entry, or None: not covered
    about: dict = field(default_factory=dict)  # the entry's text in the reader's language
    level: str = ""  # how the entry matched: "exact", "group" (KCD category, ATC class), "chapter"
    sentences: list[Sentence] = field(default_factory=list)

    @property
    def covered(self) -> bool:
        return self.entry is not None

    @property
    def urgent(self) -> bool:
        return any(s.tone == URGENT for s in self.sentences)

    @property
    def records(self) -> list:
        seen, out = set(), []
        for sentence in self.sentences:
            for record in sentence.records:
                if record.pk not in seen:
                    seen.add(record.pk)
                    out.append(record)
        return out


@dataclass
class Summary:
    """A visit summary, a digest or an at-a-glance page: sentences in sections."""

    title: str
    sections: list[tuple[str, list[Sentence]]] = field(default_factory=list)
    explanations: list[Explanation] = field(default_factory=list)

    @property
    def sentences(self) -> list[Sentence]:
        return [s for _title, sentences in self.sections for s in sentences] + [
            s for e in self.explanations for s in e.sentences
        ]

    @property
    def urgent(self) -> bool:
        return any(s.tone == URGENT for s in self.sentences)

    @property
    def urgent_names(self) -> str:
        """The results the contact prompt is about: "Potassium, Sodium"."""
        names = [e.about.get("name") or e.name for e in self.explanations if e.urgent]
        return ", ".join(dict.fromkeys(n for n in names if n))


class Explainer(Protocol):
    def series(self, points: list, *, today: dt.date | None = None) -> Explanation:
        """One lab test or vital sign: `points` are its results (oldest first, as
        records.queries.series returns them); the latest is explained."""

    def record(self, record) -> Explanation:
        """Any one record: a diagnosis, a medication, a result on its own."""

    def visit(
        self, encounter, related: list, *, today: dt.date | None = None, results=None
    ) -> Summary:
        """A visit: the encounter, the records that name it, and for each result tested
        there its series up to it (`results`, lists as series() takes)."""

    def digest(
        self, new_records: list, *, since, today: dt.date | None = None, counts=None, results=None
    ) -> Summary:
        """What arrived since `since` (None: never looked): new diagnoses and medications,
        `counts` of new records by category, and the series of each test with a new result."""

    def glance(self, sections: dict, tests: list, *, today: dt.date | None = None) -> Summary:
        """My health at a glance: the summary's sections and each test's recent points."""
