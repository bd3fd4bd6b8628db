"""Housekeeping: the browser tests' screenshots stay out of the tracked tree unless asked for,
and the images that photograph Korean pages have Korean fonts to draw them with."""

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _screenshots_dir(env: dict) -> str:
    code = "from tests.browser.helpers import SCREENSHOTS; print(SCREENSHOTS)"
    result = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "python"), "-c", code],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.strip()


def test_screenshots_taken_by_tests_go_to_an_ignored_build_folder():
    # `make test` used to rewrite the ~109 tracked files in docs/screenshots/ on every run.
    folder = Path(_screenshots_dir({}))
    assert folder == ROOT / "var" / "screenshots"
    ignored = subprocess.run(
        ["git", "check-ignore", "-q", str(folder / "patient-04-dashboard.jpg")], cwd=ROOT
    )
    assert ignored.returncode == 0


def test_screenshots_folder_can_be_chosen():
    assert _screenshots_dir({"PHR_SCREENSHOTS_DIR": "docs/screenshots"}) == str(
        ROOT / "docs" / "screenshots"
    )


def test_make_screenshots_retakes_the_docs_images():
    dry_run = subprocess.run(
        ["make", "-n", "screenshots"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    assert "PHR_SCREENSHOTS_DIR=docs/screenshots" in dry_run
    assert "tests/browser" in dry_run
    readme = (ROOT / "README.md").read_text()
    other_targets = readme.split("## Other targets", 1)[1].split("\n## ", 1)[0]
    assert "`make screenshots`" in other_targets


def test_machines_that_take_screenshots_install_korean_fonts():
    # Without a CJK font Chromium draws Korean as empty boxes.
    assert "fonts-noto-cjk" in (ROOT / "Dockerfile").read_text()
    assert "fonts-noto-cjk" in (ROOT / ".ci" / "run").read_text()
