"""The rule-based explainer: the content library for what a thing is, fixed rules
(records.explain.wording) for what its values say. The default, and the only engine shipped."""

from django.utils import timezone
from django.utils.translation import gettext as _

from records.codes import record_name, system_name
from records.explain import wording
from records.explain.base import ATTENTION, INFO, URGENT, Explanation, Sentence, Summary
from records.explain.content import library
from records.models import Category
from records.projection import main_concept


def _today(today):
    return today or timezone.localdate()


def coded_name(record) -> str:
    """ "KCD-8 E11.9" — the code as the source sent it, shown when nothing explains it."""
    system = system_name(record.code_system)
    return f"{system} {record.code_value}".strip() if record.code_value else ""


def _codings(record) -> list[dict]:
    codings = main_concept(record.resource or {}).get("coding") or []
    if not codings and record.code_value:
        codings = [{"system": record.code_system, "code": record.code_value}]
    return codings


class RuleExplainer:
    """records.explain.base.Explainer, by rules and the content library."""

    def __init__(self, content=None):
        self.content = content or library()

    def limits(self, record) -> dict | None:
        """The critical limits the content library gives the record's test, if any."""
        match = self.content.match(_codings(record))
        return match.entry.critical if match else None

    def guide(self, record) -> dict | None:
        """The general adult guide the content library gives the record's vital sign."""
        match = self.content.match(_codings(record))
        return match.entry.guide if match else None

    def urgent(self, record) -> bool:
        """Whether the record's value needs the contact prompt (flagged critical by the lab,
        past the test's critical limits, or far outside the lab's range)."""
        if record.value_num is None:
            return False
        return wording.urgent_sentence(record, self.limits(record)) is not None

    # --- one thing -----------------------------------------------------------------------

    def _explanation(self, record) -> Explanation:
        match = self.content.match(_codings(record))
        explanation = Explanation(name=record_name(record), code=coded_name(record))
        if match is None:
            explanation.sentences.append(
                Sentence(
                    _(
                        "There is no plain-language description of this yet. It is recorded as "
                        "“%(name)s” (%(code)s)."
                    )
                    % {"name": explanation.name, "code": explanation.code or _("no code")},
                    (record,),
                )
            )
            return explanation
        explanation.entry = match.entry
        explanation.about = match.entry.about()
        explanation.level = match.level
        return explanation

    def series(self, points, *, today=None) -> Explanation:
        points = [p for p in points if p.effective and p.value_num is not None]
        if not points:
            raise ValueError("series() needs at least one dated value")
        latest = points[-1]
        explanation = self._explanation(latest)
        limits = self.limits(latest)
        sentences = [wording.range_sentence(latest, limits, self.guide(latest))]
        urgent = wording.urgent_sentence(latest, limits)
        if urgent:
            sentences.append(urgent)
        split = wording.comparable(points)  # once: it reads every point
        for sentence in (
            wording.comparability_sentence(points, split),
            wording.previous_sentence(points, split),
            wording.year_sentence(points, split),
            wording.last_measured_sentence(latest, _today(today)),
        ):
            if sentence:
                sentences.append(sentence)
        explanation.sentences = sentences + explanation.sentences
        return explanation

    def record(self, record) -> Explanation:
        explanation = self._explanation(record)
        if not explanation.covered:
            return explanation
        level = explanation.level
        about = explanation.about
        if record.category == Category.CONDITION:
            if level == "chapter":
                text = _(
                    "“%(name)s” (%(code)s) is in the KCD-8 chapter “%(chapter)s”. There is no "
                    "description of this diagnosis itself yet; the chapter: %(what)s"
                )
            else:
                text = _("“%(name)s” (%(code)s): %(what)s")
            explanation.sentences.append(
                Sentence(
                    text
                    % {
                        "name": explanation.name,
                        "code": explanation.code,
                        "chapter": about["name"],
                        "what": about["what"],
                    },
                    (record,),
                )
            )
        elif record.category == Category.MEDICATION:
            explanation.sentences.append(
                Sentence(
                    _("%(name)s belongs to the drug class “%(class)s”: %(what)s")
                    % {"name": explanation.name, "class": about["name"], "what": about["what"]},
                    (record,),
                )
            )
        else:
            explanation.sentences.append(
                Sentence(
                    _("%(name)s: %(what)s") % {"name": explanation.name, "what": about["what"]},
                    (record,),
                )
            )
        return explanation

    # --- summaries -----------------------------------------------------------------------

    def _result_lines(self, results, today) -> tuple[list[Sentence], list[Explanation]]:
        lines, explanations = [], []
        for points in results:
            explanation = self.series(points, today=today)
            explanations.append(explanation)
            head = explanation.sentences[0]
            lines.append(
                Sentence(
                    # The entry's name is in the reader's language (the source's may not be).
                    _("%(name)s: %(words)s")
                    % {
                        "name": explanation.about.get("name") or explanation.name,
                        "words": head.text,
                    },
                    head.records,
                    URGENT if explanation.urgent else head.tone,
                )
            )
        return lines, explanations

    def visit(self, encounter, related, *, today=None, results=None) -> Summary:
        """`related`: the records naming the encounter; `results`: for each test tested at the
        visit, its series up to the visit's result (for the change since the previous)."""
        today = _today(today)
        when = (
            wording.date_text(encounter.effective) if encounter.effective else _("an unknown date")
        )
        kind = (
            encounter.display or main_concept(encounter.resource or {}).get("text") or _("a visit")
        )
        summary = Summary(
            title=_("Your visit to %(institution)s on %(date)s")
            % {"institution": encounter.source.display_name, "date": when}
        )
        summary.sections.append(
            (
                _("The visit"),
                [
                    Sentence(
                        _("You visited %(institution)s on %(date)s (%(kind)s).")
                        % {
                            "institution": encounter.source.display_name,
                            "date": when,
                            "kind": kind,
                        },
                        (encounter,),
                    )
                ],
            )
        )
        by_category: dict[str, list] = {}
        for record in related:
            by_category.setdefault(record.category, []).append(record)
        diagnosed = [
            s for r in by_category.get(Category.CONDITION, []) for s in self.record(r).sentences
        ]
        summary.sections.append(
            (_("Diagnosed"), diagnosed or [Sentence(_("No diagnosis was recorded."), (encounter,))])
        )
        prescribed = [
            s for r in by_category.get(Category.MEDICATION, []) for s in self.record(r).sentences
        ]
        summary.sections.append(
            (
                _("Prescribed"),
                prescribed or [Sentence(_("Nothing was prescribed."), (encounter,))],
            )
        )
        tested = [p for p in results or [] if p]
        lines, summary.explanations = self._result_lines(tested, today)
        summary.sections.append(
            (_("Tested"), lines or [Sentence(_("No results were recorded."), (encounter,))])
        )
        others = [
            r
            for category, records in by_category.items()
            if category
            not in (Category.CONDITION, Category.MEDICATION, Category.LAB, Category.VITAL)
            for r in records
        ]
        if others:
            summary.sections.append(
                (
                    _("Also recorded"),
                    [
                        Sentence(
                            _("%(kind)s: %(name)s")
                            % {"kind": Category(r.category).label, "name": record_name(r)},
                            (r,),
                        )
                        for r in others
                    ],
                )
            )
        return summary

    def digest(self, new_records, *, since, today=None, counts=None, results=None) -> Summary:
        """`new_records`: new diagnoses and medications; `counts`: new records by category;
        `results`: the series of each test with a new result."""
        today = _today(today)
        summary = Summary(
            title=_("What changed since you last looked")
            if since
            else _("Your first look: what arrived in the last 30 days")
        )
        count_lines = [
            Sentence(
                _("%(count)s new: %(kind)s") % {"count": n, "kind": Category(category).label},
                (),
            )
            for category, n in (counts or {}).items()
            if n and category in Category.values
        ]
        if not count_lines:
            summary.sections.append((_("Nothing new"), [Sentence(_("No new records."), ())]))
            return summary
        if not since:
            # Never looked: the whole history may have just arrived; it is a summary, not news.
            count_lines.insert(
                0,
                Sentence(
                    _(
                        "This is your first look, so this summarises the records that arrived "
                        "in the last 30 days. After you mark them as seen, only what is new is "
                        "listed here."
                    ),
                    (),
                ),
            )
        summary.sections.append((_("New records"), count_lines))
        lines, summary.explanations = self._result_lines(results or [], today)
        if lines:
            # What needs attention first, then the rest.
            order = {URGENT: 0, ATTENTION: 1, INFO: 2}
            lines.sort(key=lambda s: order[s.tone])
            summary.sections.append((_("New results"), lines))
        events = [s for r in new_records for s in self.record(r).sentences]
        if events:
            summary.sections.append((_("New diagnoses and medications"), events))
        return summary

    def glance(self, sections, tests, *, today=None) -> Summary:
        """`sections`: records.queries.summary_sections; `tests`: each test's recent points."""
        today = _today(today)
        summary = Summary(title=_("My health at a glance"))
        problems = [
            s for r in sections.get(Category.CONDITION, []) for s in self.record(r).sentences
        ]
        summary.sections.append(
            (
                _("Your diagnoses"),
                problems or [Sentence(_("No active diagnosis is recorded."), ())],
            )
        )
        drugs = [s for r in sections.get(Category.MEDICATION, []) for s in self.record(r).sentences]
        summary.sections.append(
            (
                _("Your medicines"),
                drugs or [Sentence(_("No current medication is recorded."), ())],
            )
        )
        allergies = [
            Sentence(_("Recorded allergy: %(name)s.") % {"name": record_name(r)}, (r,))
            for r in sections.get(Category.ALLERGY, [])
        ]
        if allergies:
            summary.sections.append((_("Allergies"), allergies))
        lines, summary.explanations = self._result_lines(tests, today)
        # What needs attention first (a stable sort: the rest keep their order).
        order = {URGENT: 0, ATTENTION: 1, INFO: 2}
        ranked = sorted(
            zip(lines, summary.explanations, strict=True), key=lambda pair: order[pair[0].tone]
        )
        lines = [line for line, _explanation in ranked]
        summary.explanations = [explanation for _line, explanation in ranked]
        summary.sections.append(
            (_("Your latest results"), lines or [Sentence(_("No results yet."), ())])
        )
        return summary
