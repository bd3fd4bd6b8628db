"""What the browser tests check on every page: accessibility (axe-core), no sideways scrolling
on a phone, no console errors; and the screenshots they leave in var/screenshots/ (git-ignored;
`make screenshots` takes them into docs/screenshots/ instead)."""

import io
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# A build folder, so that a test run leaves the tracked tree clean; `make screenshots` sets
# PHR_SCREENSHOTS_DIR=docs/screenshots to retake the images the docs show.
SCREENSHOTS = ROOT / os.environ.get("PHR_SCREENSHOTS_DIR", "var/screenshots")
AXE = ROOT / "tests" / "node" / "node_modules" / "axe-core" / "axe.min.js"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 375, "height": 812}
# Serious and critical problems fail a test; moderate and minor ones are reported only.
BLOCKING = {"serious", "critical"}
# Long pages (a timeline of hundreds of rows) are photographed down to this height.
MAX_SHOT_HEIGHT = 2400


def shoot(page, name: str) -> None:
    """A screenshot for the docs: the whole page up to MAX_SHOT_HEIGHT, as JPEG (a tenth of
    a PNG's size, plenty to read)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    width, height = page.evaluate(
        "[document.documentElement.clientWidth, document.documentElement.scrollHeight]"
    )
    page.screenshot(
        path=str(SCREENSHOTS / f"{name}.jpg"),
        full_page=True,
        clip={"x": 0, "y": 0, "width": width, "height": min(height, MAX_SHOT_HEIGHT)},
        type="jpeg",
        quality=70,
    )


def axe_violations(page) -> list[dict]:
    """Serious or critical axe-core violations of the page (WCAG 2.1 A/AA and best practice).

    The page's context must be created with bypass_csp=True: axe is injected as a script.
    """
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE))
    result = page.evaluate(
        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})",
        ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"],
    )
    return [
        {
            "id": violation["id"],
            "impact": violation["impact"],
            "help": violation["help"],
            "targets": [node["target"] for node in violation["nodes"][:3]],
        }
        for violation in result["violations"]
        if violation["impact"] in BLOCKING
    ]


def horizontal_overflow(page) -> int:
    """How many CSS pixels the page is wider than the viewport (0 when it fits)."""
    return page.evaluate(
        "() => Math.max(0, document.documentElement.scrollWidth - window.innerWidth)"
    )


def decode_qr(png: bytes) -> list[str]:
    import zxingcpp
    from PIL import Image

    return [result.text for result in zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))]


def console_errors(page) -> list[str]:
    """Start collecting the page's console errors (CSP violations show up here)."""
    errors: list[str] = []
    page.on(
        "console", lambda message: errors.append(message.text) if message.type == "error" else None
    )
    return errors
