"""Units as people write them (records.units): every UCUM code and unit text in our mock hospital
and in the Synthea fixtures, read from the sources so a new unit there fails here until listed."""

import json
from pathlib import Path

import pytest

from mockhospital import codes
from records.units import display_unit, unit_suffix

FIXTURES = Path(__file__).parent / "fixtures" / "fhir"

# code or unit text → written form; every unit the mock hospital and the Synthea fixtures send.
WRITTEN = {
    "mm[Hg]": "mmHg",
    "Cel": "°C",
    "/min": "/min",
    "10*3/uL": "10³/µL",
    "10*6/uL": "10⁶/µL",
    "kg/m2": "kg/m²",
    "%": "%",
    "mg/dL": "mg/dL",
    "g/dL": "g/dL",
    "U/L": "U/L",
    "m[IU]/L": "mIU/L",
    "cm": "cm",
    "kg": "kg",
    "fL": "fL",
    "g/L": "g/L",
    "kU/L": "kU/L",
    "mL/min": "mL/min",
    "mmol/L": "mmol/L",
    "ng/mL": "ng/mL",
    "pg": "pg",
    "{score}": "",
    # Others seen in the HL7 and KR Core examples, as codes or as the hospital's unit text.
    "[in_i]": "in",
    "[lb_av]": "lb",
    "mm Hg": "mmHg",
    "degrees C": "°C",
    "beats/minute": "/min",
    "10*9/L": "10⁹/L",
    "x10*9/L": "×10⁹/L",
    "10^12/L": "10¹²/L",
    "10³/uL": "10³/µL",
    "ug/mL": "µg/mL",
    "g/cm-2": "g/cm-2",
    "mL/min/{1.73_m2}": "mL/min/1.73 m²",
    "mg/m2": "mg/m²",
    "umol/L": "µmol/L",
    "[IU]/L": "IU/L",
    "mmHg": "mmHg",
    "°C": "°C",
    "": "",
}


def _ucum_units(path: Path) -> set[str]:
    found: set[str] = set()

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if node.get("system") == codes.UCUM and isinstance(node.get("code"), str):
                found.add(node["code"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for file in sorted(path.glob("*.json")):
        walk(json.loads(file.read_text()))
    return found


def test_units_every_source_unit_listed() -> None:
    mock = {lab[4] for lab in codes.LABS.values()} | {vital[3] for vital in codes.VITALS.values()}
    synthea = _ucum_units(FIXTURES / "synthea")

    assert (mock | synthea) - set(WRITTEN) == set()


@pytest.mark.parametrize(("code", "written"), sorted(WRITTEN.items()))
def test_display_unit_writes_code_as_people_do(code: str, written: str) -> None:
    assert display_unit(code) == written


def test_display_unit_unknown_text_unchanged() -> None:
    assert display_unit("알") == "알"
    assert display_unit("tablet") == "tablet"


@pytest.mark.parametrize(
    ("code", "suffix"), [("mm[Hg]", " mmHg"), ("%", "%"), ("Cel", " °C"), ("", ""), ("{score}", "")]
)
def test_unit_suffix_spacing(code: str, suffix: str) -> None:
    assert unit_suffix(code) == suffix
