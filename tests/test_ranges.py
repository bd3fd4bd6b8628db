"""One reading of a result's reference range, for the page's words and the chart's bounds."""

from decimal import Decimal

import pytest

from records.ranges import ReferenceRange, reference_range
from records.templatetags.records import reference_range as reference_range_words


@pytest.mark.parametrize(
    ("resource", "words", "bounds"),
    [
        (
            {"referenceRange": [{"low": {"value": Decimal("4.0")}, "high": {"value": 6}}]},
            "4.0–6",
            (4.0, 6.0),
        ),
        ({"referenceRange": [{"high": {"value": Decimal("40")}}]}, "≤ 40", (None, 40.0)),
        ({"referenceRange": [{"low": {"value": 40}}]}, "≥ 40", (40.0, None)),
        ({"referenceRange": [{"text": "negative"}]}, "negative", (None, None)),
        ({"referenceRange": [{"low": {"value": "4"}}]}, "≥ 4", (None, None)),
        ({"referenceRange": ["4-6"]}, "", (None, None)),
        ({"referenceRange": []}, "", (None, None)),
        ({}, "", (None, None)),
        (None, "", (None, None)),
    ],
)
def test_reference_range_words_and_bounds_come_from_one_reading(resource, words, bounds):
    assert reference_range(resource).words() == words
    assert reference_range_words(resource) == words
    assert reference_range(resource).bounds() == bounds


def test_reference_range_keeps_the_values_as_sent():
    sent = reference_range({"referenceRange": [{"low": {"value": Decimal("4.00")}}]})
    assert sent == ReferenceRange(low=Decimal("4.00"))
    assert str(sent.low) == "4.00"
