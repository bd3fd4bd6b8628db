"""Units as people write them.

Records store the unit a hospital sent: the Quantity's ``unit`` text, or its UCUM ``code`` when
there is no text (records.projection). Either may be a raw UCUM code (``mm[Hg]``, ``Cel``,
``10*3/uL``) or a hospital's own spelling (``mm Hg``, ``degrees C``, ``x10*9/L``). Pages, charts,
the share view and the summary show them through ``display_unit``; the raw FHIR view and the
stored data keep the original.
"""

import re
from functools import lru_cache

# Whole units whose written form is not derived by the rules below (UCUM codes first, then the
# spellings hospitals send in Quantity.unit).
_WHOLE = {
    "mm[Hg]": "mmHg",
    "mm Hg": "mmHg",
    "cm[H2O]": "cmH₂O",
    "Cel": "°C",
    "degrees C": "°C",
    "[degF]": "°F",
    "/min": "/min",
    "{beats}/min": "/min",
    "{breaths}/min": "/min",
    "beats/minute": "/min",
    "breaths/minute": "/min",
    "[in_i]": "in",
    "[ft_i]": "ft",
    "[lb_av]": "lb",
    "[oz_av]": "oz",
    "[IU]": "IU",
    "[iU]": "IU",
    "1": "",
    "{score}": "",
    "mL/min/{1.73_m2}": "mL/min/1.73 m²",
    "mL/min/1.73m2": "mL/min/1.73 m²",
}

# UCUM bracketed atoms inside a longer unit (m[IU]/L → mIU/L).
_ATOMS = {
    "[IU]": "IU",
    "[iU]": "IU",
    "[Hg]": "Hg",
    "[in_i]": "in",
    "[lb_av]": "lb",
    "[degF]": "°F",
}

_SUPERSCRIPT = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")

# 10*3, 10^3 (a power of ten).
_POWER = re.compile(r"10[*^](-?\d+)")
# A leading "x" before a power of ten is a multiplication sign (x10*9/L).
_TIMES = re.compile(r"^[xX](?=10)")
# The micro prefix written as "u" before a unit atom (uL, ug, umol, uIU, uU).
_MICRO = re.compile(r"(?<![A-Za-z])u(?=(L|l|g|mol|IU|U|m)\b|(L|l|g|mol|IU|U|m)/)")
# An exponent after a length atom (m2, cm2, m3): only after m, at the end or before "/".
_EXPONENT = re.compile(r"(?<=m)([23])(?=$|/|\s)")
# A UCUM annotation ({cells}, {RBC}): meaningful to a machine, not a reader.
_ANNOTATION = re.compile(r"\{[^}]*\}")


@lru_cache(maxsize=512)
def display_unit(code: str) -> str:
    """``code`` (a UCUM code or a hospital's unit text) as people write it: "mm[Hg]" → "mmHg",
    "Cel" → "°C", "10*3/uL" → "10³/µL", "kg/m2" → "kg/m²". Unknown text is returned unchanged."""
    text = (code or "").strip()
    if text in _WHOLE:
        return _WHOLE[text]
    for atom, written in _ATOMS.items():
        text = text.replace(atom, written)
    text = _TIMES.sub("×", text)
    text = _POWER.sub(lambda match: "10" + match.group(1).translate(_SUPERSCRIPT), text)
    text = _MICRO.sub("µ", text)
    text = _EXPONENT.sub(lambda match: match.group(1).translate(_SUPERSCRIPT), text)
    if _ANNOTATION.fullmatch(text):
        return ""
    text = _ANNOTATION.sub("", text)
    return text.replace("//", "/").strip()


def unit_suffix(code: str) -> str:
    """What follows a number: " mmHg", "%" (written without a space), or "" for no unit."""
    unit = display_unit(code)
    if not unit:
        return ""
    if unit == "%":
        return unit
    return " " + unit
