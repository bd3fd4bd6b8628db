from pathlib import Path

import polib
import pytest

LOCALE = Path(__file__).resolve().parent.parent / "locale"


@pytest.mark.parametrize("language", ["ko", "en"])
def test_catalogue_is_complete_and_compiled(language):
    po = polib.pofile(str(LOCALE / language / "LC_MESSAGES" / "django.po"))
    mo = polib.mofile(str(LOCALE / language / "LC_MESSAGES" / "django.mo"))
    if language == "ko":
        assert [e.msgid for e in po.untranslated_entries()] == []
    assert [e.msgid for e in po.fuzzy_entries()] == []
    # The compiled catalogue is what Django reads: it must hold every translation in the .po.
    compiled = {(e.msgctxt, e.msgid): e.msgstr for e in mo}
    assert {(e.msgctxt, e.msgid): e.msgstr for e in po.translated_entries()} == {
        k: v for k, v in compiled.items() if k[1]
    }


@pytest.mark.slow
def test_no_string_in_the_code_is_left_untranslated(tmp_path):
    """makemessages over a copy of the code: a new translatable string that is not in the
    Korean catalogue (or only as a fuzzy guess) fails here, naming it."""
    import shutil
    import subprocess
    import sys

    from tests.helpers import ROOT, project_env

    ignore = shutil.ignore_patterns(
        ".venv", ".git", "node_modules", "var", "staticfiles", "docs", "tests", "*.pyc"
    )
    copy = tmp_path / "phr"
    shutil.copytree(ROOT, copy, ignore=ignore)
    result = subprocess.run(
        [sys.executable, "manage.py", "makemessages", "-l", "ko", "--no-obsolete"]
        + [f"--ignore={name}" for name in (".semgrep", "*.min.js")],
        cwd=copy,
        env=project_env(DEBUG="1", PHR_VAR_DIR=str(tmp_path / "var")),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    po = polib.pofile(str(copy / "locale" / "ko" / "LC_MESSAGES" / "django.po"))
    missing = [e.msgid for e in po.untranslated_entries()] + [e.msgid for e in po.fuzzy_entries()]
    assert missing == [], "untranslated in Korean (run makemessages and translate): " + repr(
        missing
    )
