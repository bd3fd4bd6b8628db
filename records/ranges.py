"""A result's reference range, read once from its FHIR resource: the words a page shows and
the bounds a chart draws and a flag compares with."""

from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True, slots=True)
class ReferenceRange:
    """The first referenceRange of a resource, as sent: `low` and `high` are its values (a
    Decimal keeps the digits it came with), `text` its words."""

    low: object = None
    high: object = None
    text: str = ""

    def words(self) -> str:
        """ "4.0–6.0", "≤ 40", "≥ 40", the range's text, or ""."""
        if self.low is not None and self.high is not None:
            return f"{self.low}–{self.high}"
        if self.high is not None:
            return f"≤ {self.high}"
        if self.low is not None:
            return f"≥ {self.low}"
        return self.text

    def bounds(self) -> tuple[float | None, float | None]:
        """(low, high) as numbers for arithmetic; a bound that is no number is None."""
        return _number(self.low), _number(self.high)


def _number(value) -> float | None:
    # The resource keeps decimals as Decimal (their digits); a chart's arithmetic is float.
    return float(value) if isinstance(value, int | float | Decimal) else None


def reference_range(resource: dict | None) -> ReferenceRange:
    """The resource's first reference range (an empty one where it has none)."""
    ranges = (resource or {}).get("referenceRange") or []
    if not ranges or not isinstance(ranges[0], dict):
        return ReferenceRange()
    return ReferenceRange(
        low=(ranges[0].get("low") or {}).get("value"),
        high=(ranges[0].get("high") or {}).get("value"),
        text=ranges[0].get("text", ""),
    )
