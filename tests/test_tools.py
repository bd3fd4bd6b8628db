"""The local semgrep rules catch what they are written for (so a clean `make security` means
something): every rule fires on its example in .semgrep/, and the scoped lookup does not."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


def test_every_semgrep_rule_fires_on_its_example():
    semgrep = Path(sys.executable).parent / "semgrep"
    result = subprocess.run(
        [
            str(semgrep),
            "scan",
            "--config",
            ".semgrep/rules.yml",
            "--metrics=off",
            "--disable-version-check",
            "--quiet",
            "--json",
            ".semgrep",
        ],
        cwd=ROOT,
        env={**os.environ, "SEMGREP_ENABLE_VERSION_CHECK": "0"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    report = json.loads(result.stdout)
    assert not report["errors"]
    fired = {finding["check_id"].rsplit(".", 1)[-1] for finding in report["results"]}
    rules = {
        rule["id"] for rule in yaml.safe_load((ROOT / ".semgrep/rules.yml").read_text())["rules"]
    }
    assert fired == rules
    lines = {(Path(f["path"]).name, f["start"]["line"]) for f in report["results"]}
    assert ("views.py", 14) not in lines  # the access-scoped lookup passes
    assert ("examples.py", 19) not in lines  # hmac.compare_digest passes
    # A patient's rows queried directly in a form, an export or a template tag are caught; the
    # same query in a query module, and a form that asks the scoped query, pass.
    patient_query = {
        (Path(f["path"]).name, f["start"]["line"])
        for f in report["results"]
        if f["check_id"].endswith("unscoped-patient-query")
    }
    assert {("forms.py", 9), ("export.py", 7), ("export.py", 11), ("export.py", 15)} <= (
        patient_query
    )
    assert ("tags.py", 7) in patient_query
    assert ("forms.py", 15) not in patient_query
    assert not any(name == "queries.py" for name, _line in patient_query)
