"""Counts and messages in the reader's language: plurals (Korean has one form), a progress line
before the total is known."""

import uuid
from types import SimpleNamespace

import pytest
from django.template.loader import render_to_string
from django.utils import translation

from institutions.admin import _queued_again


def _run(*, fetched, total):
    return SimpleNamespace(
        is_active=True,
        fetched=fetched,
        total=total,
        progress=0,
        status="running",
        get_status_display=lambda: "Running",
    )


def _progress(run) -> str:
    source = SimpleNamespace(code=uuid.uuid4())
    html = render_to_string(
        "institutions/_progress.html", {"run": run, "source": source, "record_count": 0}
    )
    return " ".join(html.split())


def test_progress_before_total_known_counts_received():
    assert "— 0 received</p>" in _progress(_run(fetched=0, total=None))
    assert "?" not in _progress(_run(fetched=0, total=None))


def test_progress_with_total_says_of():
    assert "— 40 of 330 received</p>" in _progress(_run(fetched=40, total=330))


@pytest.mark.parametrize(
    ("count", "english"), [(1, "1 sync queued again."), (3, "3 syncs queued again.")]
)
def test_admin_retry_message_plural(count, english):
    with translation.override("en"):
        assert _queued_again(count) == english
