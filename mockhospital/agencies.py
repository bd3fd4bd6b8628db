"""The public agencies' data: NHIS check-ups and visit history, HIRA prescriptions and pharmacy
dispensing, KDCA vaccinations — deterministic, KR Core-style FHIR R4, as the mock hospitals'.

An agency is a MockInstitution whose profile is one of AGENCY_PROFILES; it is served by the
same views (token, metadata, paging, `_since`, faults), only its data comes from here instead
of mockhospital.generator. The person is the generator's (`person()`: the same chronic
conditions, height and weight, and lab courses as in the hospitals' results), so a person's
check-up glucose follows the same course as their hospital HbA1c.

Like the real platform's sources, each agency holds more than the platform shows: NHIS sends
check-ups of up to 14 years and visits of 4, HIRA prescriptions of 3 years, KDCA every
vaccination since birth; the sync keeps what its window allows (institutions.windows).

Codes: LOINC for the check-up items (records.checkups.ITEMS), KCD-8 for visit reasons, HIRA EDI
and ATC for drugs, KR Core vaccine types, KD codes and CVX for vaccines, HIRA institution
numbers (krnpi) for the clinics and pharmacies. The HIRA EDI drug codes and KD codes follow
the real formats and are representative, not a copy of the HIRA or KPIS tables.
"""

import datetime as dt
from collections.abc import Iterator

from mockhospital import codes as c
from mockhospital import generator as g
from records import checkups as ck

AGENCY_PROFILES = ("nhis", "hira", "kdca")
KST = g.KST
CLAIMS_FROM = dt.datetime(2010, 1, 1, tzinfo=KST)  # the first claim any person has
CHECKUP_PROFILE = c.KRCORE_PROFILE + "krcore-diagnosticreport"

# The clinics, hospitals and pharmacies people visit (HIRA number, name, HIRA type, region).
CLINICS = [
    ("11310101", "연세튼튼내과의원", "31", "서울특별시 마포구"),
    ("11310102", "서울바른이비인후과의원", "31", "서울특별시 마포구"),
    ("11310103", "행복한가정의학과의원", "31", "서울특별시 서대문구"),
    ("11310104", "맑은정형외과의원", "31", "서울특별시 마포구"),
    ("31100202", "한강종합병원", "11", "경기도 고양시"),
    ("11100101", "서울한빛대학교병원", "01", "서울특별시 종로구"),
]
PEDIATRIC = ("11310105", "아이사랑소아청소년과의원", "31", "서울특별시 마포구")
HEALTH_CENTRE = ("11700505", "마포구보건소", "71", "서울특별시 마포구")
PHARMACIES = [
    ("11810201", "온누리큰약국", "81", "서울특별시 마포구"),
    ("11810202", "건강드림약국", "81", "서울특별시 마포구"),
    ("11810203", "새봄약국", "81", "서울특별시 서대문구"),
    ("11810204", "한강메디칼약국", "81", "경기도 고양시"),
]
ORG_TYPE_NAMES = {**c.ORG_TYPES, "81": "약국"}
# A chronic condition's drug, and how many days a refill lasts.
CHRONIC_DRUGS = {
    "diabetes": "metformin",
    "hypertension": "amlodipine",
    "dyslipidemia": "atorvastatin",
    "hypothyroidism": "levothyroxine",
}
# KD codes (KPIS 표준코드, 9 digits after the 880 country prefix dropped) per vaccine:
# representative product codes in the real format.
KD_CODES = {
    "bcg": ("642900010", "경피용건조비씨지백신"),
    "hepb": ("641600170", "헤파박스-진주"),
    "dtap": ("645400440", "인판릭스주"),
    "ipv": ("645400460", "이모박스폴리오주"),
    "hib": ("645400480", "악티브주"),
    "pcv": ("645400500", "프리베나13주"),
    "rv": ("645400520", "로타릭스프리필드경구용"),
    "mmr": ("645400540", "엠엠알II주"),
    "var": ("645400560", "스카이바리셀라주"),
    "hepa": ("645400580", "하브릭스주720"),
    "ijev": ("645400600", "보령세포배양일본뇌염백신주"),
    "tdap": ("645400620", "부스트릭스주"),
    "hpv": ("645400640", "가다실주"),
    "influenza": ("645400660", "지씨플루쿼드리밸런트프리필드시린지주"),
    "covid19": ("645400680", "코미나티주"),
    "td": ("645400700", "티디퓨어주"),
    "ppsv23": ("645400720", "프로디악스23주"),
    "zoster": ("645400740", "스카이조스터주"),
}
# The day each childhood vaccine entered Korea's national programme (or, for the oldest, the
# vaccine reached Korean clinics): the registry holds no dose from before it, so a patient born
# in 1962 has no Hib or PCV shot of 1962. Approximate, from KDCA's programme history
# (국가예방접종사업 연혁); BCG, DTP and polio predate every patient generated.
PROGRAMME_FROM = {
    "hepb": dt.date(1995, 1, 1),
    "mmr": dt.date(1985, 1, 1),
    "ijev": dt.date(1985, 1, 1),
    "var": dt.date(2005, 1, 1),
    "tdap": dt.date(2012, 1, 1),
    "hib": dt.date(2013, 3, 1),
    "pcv": dt.date(2014, 5, 1),
    "hepa": dt.date(2015, 5, 1),
    "hpv": dt.date(2016, 6, 20),
    "rv": dt.date(2023, 3, 6),
}
# The doses a series has in the childhood schedule (protocolApplied.seriesDoses).
SERIES_DOSES = {key: len(ages) for key, ages in g.CHILD_SCHEDULE.items()}


def is_agency(profile: str) -> bool:
    return profile in AGENCY_PROFILES


def _org_id(hira_number: str) -> str:
    return f"org-{hira_number}"


def _org_ref(org: tuple) -> dict:
    return {"reference": f"Organization/{_org_id(org[0])}", "display": org[1]}


def _organization(org: tuple, updated: dt.datetime, *, agency: bool = False) -> dict:
    number, name, type_code, region = org
    body = {
        "resourceType": "Organization",
        "id": _org_id(number),
        "meta": g._meta(c.KRCORE_PROFILE + "krcore-organization", updated),
        "active": True,
        "name": name,
        "address": [{"text": region}],
    }
    if agency:
        body["type"] = [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/organization-type",
                        "code": "govt",
                        "display": "Government",
                    }
                ]
            }
        ]
    else:
        body["identifier"] = [{"system": c.HIRA_KRNPI, "value": number}]
        body["type"] = [
            {"coding": [g._coding(c.HIRA_ORG_TYPES, type_code, ORG_TYPE_NAMES[type_code])]}
        ]
    return body


def generate(
    inst: g.InstitutionSpec, spec: g.PatientSpec, *, since: dt.datetime | None, until: dt.datetime
) -> Iterator[dict]:
    """The agency's resources for events in (since, until]; with since=None also the Patient
    and the Organizations they name. Stable: the same inputs give the same resources."""
    person_ = g.person(spec)
    events = {"nhis": _nhis, "hira": _hira, "kdca": _kdca}[inst.profile](spec, person_, until)
    if since is None:
        agency = (inst.hira_number, inst.name, inst.type_code, inst.region)
        yield _organization(agency, spec.history_start, agency=True)
        for org in (*CLINICS, PEDIATRIC, HEALTH_CENTRE, *PHARMACIES):
            if inst.profile == "hira" or org[2] != "81":
                yield _organization(org, spec.history_start)
        yield g.patient_resource(inst, spec, person_, spec.history_start)
    for moment, resources in events:
        if moment > until:
            break
        if since is None or moment > since:
            yield from resources


# --- Claims: the visits NHIS and HIRA both know of ------------------------------------------


def _claims(spec: g.PatientSpec, person_: g.Person, until: dt.datetime):
    """The person's outpatient visits from CLAIMS_FROM to `until`, in order: (start, clinic,
    reason, drugs, days) — chronic follow-ups at their usual clinic every two or three months
    once treated, and acute visits now and then. Seeded by the person: NHIS's visit and HIRA's
    prescription of one visit agree."""
    rng = g._rng("claims", spec.person_key)
    usual = CLINICS[rng.randrange(4)]
    second = CLINICS[4 + rng.randrange(2)]  # a hospital some chronic patients also attend
    duplicate = rng.random() < 0.3  # …which then prescribes a drug the clinic prescribes too
    day = CLAIMS_FROM
    next_chronic = CLAIMS_FROM
    number = 0
    while True:
        day = day + dt.timedelta(days=rng.expovariate(1 / 45))
        treated = [key for key, (_onset, start) in person_.chronic.items() if start <= day.date()]
        if treated and day >= next_chronic:
            clinic, drugs, days = usual, [CHRONIC_DRUGS[k] for k in treated], rng.choice([56, 90])
            reason = c.CHRONIC[treated[0]]
            next_chronic = day + dt.timedelta(days=days - 7)
        else:
            acute = rng.choice(c.ACUTE)
            clinic = rng.choice(CLINICS[:4])
            drugs = rng.sample(c.ACUTE_DRUGS, rng.randint(1, 2))
            days, reason = rng.choice([3, 5, 7]), acute
        start = day.astimezone(KST).replace(
            hour=9 + int(rng.random() * 8), minute=int(rng.random() * 60), second=0, microsecond=0
        )
        if start > until:
            return
        if start.date() > person_.birth_date:
            number += 1
            yield number, start, clinic, reason, drugs, days
            if duplicate and treated and clinic is usual and rng.random() < 0.5:
                number += 1
                later = start + dt.timedelta(days=rng.randint(3, 20), hours=1)
                if later <= until:
                    yield number, later, second, reason, [CHRONIC_DRUGS[treated[-1]]], days


# --- NHIS ----------------------------------------------------------------------------------


def _nhis(spec, person_, until):
    events = []
    visits_from = spec.history_start + dt.timedelta(days=365 * 10)
    for number, start, clinic, reason, _drugs, _days in _claims(spec, person_, until):
        if start <= visits_from:
            continue
        kcd, korean, english = reason
        inpatient = clinic[2] in ("01", "11") and number % 23 == 0
        end = start + (dt.timedelta(days=3) if inpatient else dt.timedelta(minutes=20))
        updated = start + dt.timedelta(days=14)  # the claim reaches NHIS later
        resource = {
            "resourceType": "Encounter",
            "id": f"{spec.patient_id}-v{number:05d}",
            "meta": g._meta(c.KRCORE_PROFILE + "krcore-encounter", updated),
            "status": "finished",
            "class": g._coding(
                c.ACT_CODE,
                *(("IMP", "inpatient encounter") if inpatient else ("AMB", "ambulatory")),
            ),
            "type": [{"text": "입원" if inpatient else "외래"}],
            "subject": g._ref("Patient", spec.patient_id),
            "period": {"start": g._instant(start), "end": g._instant(end)},
            "reasonCode": [
                {"coding": [g._coding(c.KCD8, kcd, korean)], "text": f"{korean} ({english})"}
            ],
            "serviceProvider": _org_ref(clinic),
        }
        events.append((updated, [resource]))
    for checkup in _checkups(spec, person_, until):
        events.append(checkup)
    return sorted(events, key=lambda event: event[0])


def _category(value: float, bands: tuple) -> str:
    """The programme's category of a value: bands are ((low, high) of 정상A, (low, high) of
    정상B or None); outside both is 질환의심. Bounds are inclusive, None is open."""

    def inside(band):
        low, high = band
        return (low is None or value >= low) and (high is None or value <= high)

    normal_a, normal_b = bands
    if inside(normal_a):
        return ck.NORMAL_A
    if normal_b is not None and any(inside(b) for b in normal_b):
        return ck.NORMAL_B
    return ck.SUSPECT


def _bands(key: str, sex: str) -> tuple:
    """(정상A, [정상B ranges] or None) of an item for a sex: the NHIS general check-up's
    judgement criteria (일반건강검진 판정기준)."""
    male = sex == "male"
    return {
        "bmi": ((18.5, 24.9), [(25.0, 29.9), (None, 18.4)]),
        "waist": ((None, 89.9 if male else 84.9), None),
        "systolic": ((None, 119), [(120, 139)]),
        "diastolic": ((None, 79), [(80, 89)]),
        "glucose": ((None, 99), [(100, 125)]),
        "chol": ((None, 199), [(200, 239)]),
        "hdl": ((60, None), [(40, 59)]),
        "tg": ((None, 149), [(150, 199)]),
        "ldl": ((None, 129), [(130, 159)]),
        "hb": (
            ((13.0, 16.5), [(12.0, 12.9), (16.6, 17.5)])
            if male
            else ((12.0, 15.5), [(10.0, 11.9), (15.6, 16.5)])
        ),
        "creatinine": ((None, 1.5), None),
        "egfr": ((60, None), None),
        "ast": ((None, 40), [(41, 50)]),
        "alt": ((None, 35), [(36, 45)]),
        "ggt": (((11, 63), [(64, 77)]) if male else ((8, 35), [(36, 45)])),
    }[key]


def _range(band: tuple, unit: str, text: str) -> dict:
    low, high = band
    entry = {}
    if low is not None:
        entry["low"] = g._quantity(low, unit)
    if high is not None:
        entry["high"] = g._quantity(high, unit)
    entry["text"] = text
    return entry


def _interpretation(category: str, flag: str = "") -> list:
    coding = [g._coding(ck.RESULT_SYSTEM, category, ck.RESULT_KOREAN[category])]
    if flag:
        coding.append(
            g._coding(c.OBS_INTERPRETATION, flag, {"N": "Normal", "H": "High", "L": "Low"}[flag])
        )
    return [{"coding": coding}]


def _egfr(creatinine: float, age: int, male: bool) -> float:
    """CKD-EPI (2009) from serum creatinine, as the result sheet reports it."""
    kappa, alpha = (0.9, -0.411) if male else (0.7, -0.329)
    ratio = creatinine / kappa
    value = 141 * min(ratio, 1) ** alpha * max(ratio, 1) ** -1.209 * 0.993**age
    return value * (1 if male else 1.018)


def _checkup_years(spec, person_, until):
    rng = g._rng("nhis-checkup", spec.person_key)
    birth = person_.birth_date
    first = max(birth.year + ck.ADULT_AGE, spec.history_start.year)
    for year in range(first, until.year + 1):
        if year % 2 != birth.year % 2:
            continue
        attended = rng.random() < 0.85
        day = dt.date(year, rng.randint(3, 11), rng.randint(1, 28))
        hour, minute = 8 + rng.randrange(3), rng.randrange(60)
        if attended:
            yield dt.datetime.combine(day, dt.time(hour, minute), tzinfo=KST)


def _checkups(spec, person_, until):
    for start in _checkup_years(spec, person_, until):
        yield _checkup(spec, person_, start)


def _checkup(spec, person_, start: dt.datetime):
    """One general check-up: (the day its results are sent, [Observations…, DiagnosticReport])."""
    rng = g._rng("nhis-checkup-values", spec.person_key, start.date())
    day = start.date()
    issued = start + dt.timedelta(days=10)
    age = ck._age_on(person_.birth_date, day)
    male = person_.sex == "male"
    items = {item.key: item for item in ck.ITEMS}
    prefix = f"{spec.patient_id}-ck{day:%Y}"
    observations = []

    def observation(key: str, category: str, body: dict, interpretation: list | None):
        item = items[key]
        resource = {
            "resourceType": "Observation",
            "id": f"{prefix}-{len(observations) + 1:02d}",
            "meta": g._meta(c.KRCORE_PROFILE + "krcore-observation", issued),
            "status": "final",
            "category": [
                {"coding": [g._coding(c.OBS_CATEGORY, category, category.replace("-", " "))]}
            ],
            "code": {
                "coding": [g._coding(item.system, item.code, item.korean)],
                "text": item.korean,
            },
            "subject": g._ref("Patient", spec.patient_id),
            "effectiveDateTime": g._instant(start),
            "issued": g._instant(issued),
            "performer": [_org_ref(HEALTH_CENTRE)],
            **body,
        }
        if interpretation:
            resource["interpretation"] = interpretation
        observations.append(resource)
        return resource

    def measured(key: str, value: float, unit: str, band_key: str | None, category: str):
        body = {"valueQuantity": g._quantity(value, unit)}
        interpretation = None
        if band_key:
            normal_a, normal_b = _bands(band_key, person_.sex)
            body["referenceRange"] = [_range(normal_a, unit, "정상A")] + [
                _range(band, unit, "정상B") for band in normal_b or []
            ]
            result = _category(value, (normal_a, normal_b))
            low, high = normal_a
            flag = "H" if high is not None and value > high else ""
            flag = "L" if low is not None and value < low else flag
            interpretation = _interpretation(result, flag or "N")
        return observation(key, category, body, interpretation)

    years_on = (day - dt.date(2012, 1, 1)).days / 365.25
    weight = round(person_.weight + years_on * 0.25 + rng.gauss(0, 1.0), 1)
    height = round(person_.height + rng.gauss(0, 0.3), 1)
    bmi = round(weight / (height / 100) ** 2, 1)
    waist = round((72 if male else 66) + (bmi - 22) * 2.4 + rng.gauss(0, 1.5), 1)
    measured("height", height, "cm", None, "vital-signs")
    measured("weight", weight, "kg", None, "vital-signs")
    measured("waist", waist, "cm", "waist", "vital-signs")
    measured("bmi", bmi, "kg/m2", "bmi", "vital-signs")
    for side in ("left", "right"):
        acuity = round(min(max(1.2 - max(age - 40, 0) * 0.015 + rng.gauss(0, 0.15), 0.1), 2.0), 1)
        observation(f"vision_{side}", "exam", {"valueQuantity": {"value": acuity}}, None)
    if age in (40, 50, 60, 66, 70, 80):  # hearing: at the life-transition ages
        for side in ("left", "right"):
            normal = rng.random() > max(age - 50, 0) * 0.01
            observation(
                f"hearing_{side}",
                "exam",
                {"valueCodeableConcept": {"text": "정상" if normal else "질환의심"}},
                _interpretation(ck.NORMAL_A if normal else ck.SUSPECT),
            )
    # Blood pressure: one panel, judged by the worse of its two components.
    systolic = round(g._course(person_, "systolic", day) + rng.gauss(0, 5))
    diastolic = round(g._course(person_, "diastolic", day) + rng.gauss(0, 3))
    worst = max(
        _category(systolic, _bands("systolic", "")),
        _category(diastolic, _bands("diastolic", "")),
        key=[ck.NORMAL_A, ck.NORMAL_B, ck.SUSPECT].index,
    )
    observation(
        "bp",
        "vital-signs",
        {
            "component": [
                {
                    "code": {"coding": [g._coding(c.LOINC, *c.BP_SYSTOLIC)]},
                    "valueQuantity": g._quantity(systolic, "mm[Hg]"),
                    "referenceRange": [
                        _range((None, 119), "mm[Hg]", "정상A"),
                        _range((120, 139), "mm[Hg]", "정상B"),
                    ],
                },
                {
                    "code": {"coding": [g._coding(c.LOINC, *c.BP_DIASTOLIC)]},
                    "valueQuantity": g._quantity(diastolic, "mm[Hg]"),
                    "referenceRange": [
                        _range((None, 79), "mm[Hg]", "정상A"),
                        _range((80, 89), "mm[Hg]", "정상B"),
                    ],
                },
            ]
        },
        _interpretation(worst),
    )
    diabetic = "diabetes" in person_.chronic
    protein = rng.random()
    protein_result = (
        ("음성(-)", ck.NORMAL_A)
        if protein > (0.12 if diabetic else 0.04)
        else ("약양성(±)", ck.NORMAL_B)
        if protein > 0.02
        else ("양성(+1)", ck.SUSPECT)
    )
    observation(
        "urine_protein",
        "laboratory",
        {
            "valueCodeableConcept": {"text": protein_result[0]},
            "referenceRange": [{"text": "음성(-)"}],
        },
        _interpretation(protein_result[1]),
    )

    def lab(key: str, course_key: str | None, baseline: float, unit: str, decimals: int):
        true = g._course(person_, course_key, day) if course_key else baseline
        value = round(max(true * (1 + rng.gauss(0, 0.05)), 0.1), decimals)
        return measured(key, int(value) if decimals == 0 else value, unit, key, "laboratory")

    lab("hb", "hb", 0, "g/dL", 1)
    lab("glucose", "glucose", 0, "mg/dL", 0)
    # The lipid panel: men from 24, women from 40, every four years.
    if (age >= 24 if male else age >= 40) and age % 4 in (0, 1):
        lab("chol", "chol", 0, "mg/dL", 0)
        lab("hdl", "hdl", 0, "mg/dL", 0)
        lab("tg", "tg", 0, "mg/dL", 0)
        lab("ldl", "ldl", 0, "mg/dL", 0)
    creatinine = lab("creatinine", "creatinine", 0, "mg/dL", 1)
    egfr = round(_egfr(creatinine["valueQuantity"]["value"], age, male))
    measured("egfr", egfr, "mL/min/{1.73_m2}", "egfr", "laboratory")
    lab("ast", "ast", 0, "U/L", 0)
    lab("alt", "alt", 0, "U/L", 0)
    lab("ggt", None, 30 if male else 18, "U/L", 0)
    xray = rng.random()
    xray_text, xray_result = (
        ("정상", ck.NORMAL_A)
        if xray > 0.05
        else ("비활동성 폐결핵", ck.NORMAL_B)
        if xray > 0.015
        else ("질환의심", ck.SUSPECT)
    )
    observation("chest_xray", "imaging", {"valueString": xray_text}, _interpretation(xray_result))
    order = [ck.NORMAL_A, ck.NORMAL_B, ck.SUSPECT]
    judged = [
        coding["code"]
        for o in observations
        for concept in o.get("interpretation", [])
        for coding in concept["coding"]
        if coding["system"] == ck.RESULT_SYSTEM
    ]
    overall = max(judged, key=order.index)
    flagged = [
        o["code"]["text"]
        for o in observations
        for concept in o.get("interpretation", [])
        for coding in concept["coding"]
        if coding["system"] == ck.RESULT_SYSTEM and coding["code"] != ck.NORMAL_A
    ]
    conclusion = ck.RESULT_KOREAN[overall] + (
        f": {', '.join(flagged)} 관리가 필요합니다." if flagged else ": 이상 소견 없음."
    )
    report = {
        "resourceType": "DiagnosticReport",
        "id": f"{prefix}-00",
        "meta": g._meta(CHECKUP_PROFILE, issued),
        "status": "final",
        "category": [{"coding": [g._coding(c.DIAGNOSTIC_SERVICE, "OTH", "Other")]}],
        "code": {
            "coding": [g._coding(ck.CHECKUP_SYSTEM, ck.CHECKUP_GENERAL, "일반건강검진")],
            "text": f"{day:%Y}년 일반건강검진",
        },
        "subject": g._ref("Patient", spec.patient_id),
        "effectiveDateTime": g._instant(start),
        "issued": g._instant(issued),
        "performer": [_org_ref(HEALTH_CENTRE)],
        "result": [
            {"reference": f"Observation/{o['id']}", "display": o["code"]["text"]}
            for o in observations
        ],
        "conclusion": conclusion,
        "conclusionCode": [
            {"coding": [g._coding(ck.RESULT_SYSTEM, overall, ck.RESULT_KOREAN[overall])]}
        ],
    }
    return issued, [*observations, report]


# --- HIRA ----------------------------------------------------------------------------------


def _hira(spec, person_, until):
    events = []
    for number, start, clinic, _reason, drugs, days in _claims(spec, person_, until):
        if start <= spec.history_start:
            continue
        rng = g._rng("hira-dispense", spec.person_key, number)
        pharmacy = PHARMACIES[3] if clinic[0] == "31100202" else PHARMACIES[number % 3]
        handed = start + dt.timedelta(minutes=30 + rng.randrange(90))
        resources = []
        for index, key in enumerate(drugs):
            edi, product, atc, atc_name, dose = c.DRUGS[key]
            times = {"1일 1회": 1, "1일 2회": 2, "1일 3회": 3}.get(dose[:5], 1)
            request_id = f"{spec.patient_id}-rx{number:05d}-{index}"
            medication = {
                "coding": [
                    g._coding(c.EDI_MEDICATION, edi, product),
                    g._coding(c.ATC, atc, atc_name),
                ],
                "text": product,
            }
            active = start + dt.timedelta(days=days) > until
            resources.append(
                {
                    "resourceType": "MedicationRequest",
                    "id": request_id,
                    "meta": g._meta(c.KRCORE_PROFILE + "krcore-medicationrequest", handed),
                    "status": "active" if active else "completed",
                    "intent": "order",
                    "category": [
                        {"coding": [g._coding(c.MEDREQ_CATEGORY, "outpatient", "Outpatient")]}
                    ],
                    "medicationCodeableConcept": medication,
                    "subject": g._ref("Patient", spec.patient_id),
                    "authoredOn": g._instant(start),
                    "requester": _org_ref(clinic),
                    "dosageInstruction": [
                        {
                            "text": dose,
                            "timing": {
                                "repeat": {"frequency": times, "period": 1, "periodUnit": "d"}
                            },
                        }
                    ],
                    "dispenseRequest": {
                        "quantity": {"value": times * days, "unit": "정"},
                        "expectedSupplyDuration": {
                            "value": days,
                            "unit": "일",
                            "system": c.UCUM,
                            "code": "d",
                        },
                    },
                }
            )
            resources.append(
                {
                    "resourceType": "MedicationDispense",
                    "id": f"{spec.patient_id}-dp{number:05d}-{index}",
                    "meta": g._meta(c.KRCORE_PROFILE + "krcore-medicationdispense", handed),
                    "status": "completed",
                    "medicationCodeableConcept": medication,
                    "subject": g._ref("Patient", spec.patient_id),
                    "performer": [{"actor": _org_ref(pharmacy)}],
                    "authorizingPrescription": [g._ref("MedicationRequest", request_id)],
                    "quantity": {"value": times * days, "unit": "정"},
                    "daysSupply": {
                        "value": days,
                        "unit": "일",
                        "system": c.UCUM,
                        "code": "d",
                    },
                    "whenPrepared": g._instant(handed - dt.timedelta(minutes=10)),
                    "whenHandedOver": g._instant(handed),
                    "dosageInstruction": [{"text": dose}],
                }
            )
        events.append((handed, resources))
    # A second institution's visit can come after the next visit at the usual one.
    return sorted(events, key=lambda event: event[0])


# --- KDCA ----------------------------------------------------------------------------------


def _kdca(spec, person_, until):
    """Every vaccination since birth (the national registry keeps them all), at a paediatric
    clinic or the public health centre for children, at a clinic for adults."""
    events = []
    plans = g.public_health_calendar(person_, spec.person_key, until.astimezone(KST).date())
    number = 0
    for plan in plans:
        given = [
            (key, dose)
            for key, dose in plan.vaccines
            if plan.day >= PROGRAMME_FROM.get(key, dt.date.min)
        ]
        if not given:
            continue
        rng = g._rng("kdca-visit", spec.person_key, plan.day)
        start = dt.datetime.combine(
            plan.day, dt.time(9 + int(rng.random() * 8), int(rng.random() * 60)), tzinfo=KST
        )
        age = (plan.day - person_.birth_date).days / 365.25
        place = (
            (PEDIATRIC if rng.random() < 0.7 else HEALTH_CENTRE)
            if age < 13
            else CLINICS[rng.randrange(4)]
        )
        if any(v == "covid19" for v, _dose in given) and age >= 13:
            place = HEALTH_CENTRE
        recorded = start + dt.timedelta(hours=3)
        resources = []
        for key, dose in given:
            number += 1
            kr_code, korean, cvx, cvx_name = c.VACCINES[key]
            kd, product = KD_CODES[key]
            coding = [g._coding(c.KRCORE_VACCINE_TYPES, kr_code, korean)] if kr_code else []
            protocol = {"doseNumberPositiveInt": dose}
            if key in SERIES_DOSES and age < 13:
                protocol["seriesDosesPositiveInt"] = SERIES_DOSES[key]
            protocol["series"] = key.upper()
            resources.append(
                {
                    "resourceType": "Immunization",
                    "id": f"{spec.patient_id}-im{number:04d}",
                    "meta": g._meta(c.KRCORE_PROFILE + "krcore-immunization", recorded),
                    "status": "completed",
                    "vaccineCode": {
                        "coding": [
                            *coding,
                            g._coding(c.KDCODE, kd, product),
                            g._coding(c.CVX, cvx, cvx_name),
                        ],
                        "text": f"{korean} {dose}차",
                    },
                    "patient": g._ref("Patient", spec.patient_id),
                    "occurrenceDateTime": g._instant(start),
                    "recorded": g._instant(recorded),
                    "primarySource": True,
                    "lotNumber": f"{kd[-4:]}{plan.day:%y%m}{number % 89:02d}",
                    "performer": [
                        {
                            "function": {
                                "coding": [
                                    {
                                        "system": "http://terminology.hl7.org/CodeSystem/v2-0443",
                                        "code": "AP",
                                        "display": "Administering Provider",
                                    }
                                ]
                            },
                            "actor": _org_ref(place),
                        }
                    ],
                    "protocolApplied": [protocol],
                }
            )
        events.append((recorded, resources))
    return events
