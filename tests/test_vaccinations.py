"""Vaccinations and the national immunization schedule (records.vaccinations, from the written
schedule records/data/nip_schedule.toml): each dose done, due, overdue or upcoming for children
of several ages on a frozen day, and the adults' recommendations.

The expected states are worked out by hand from the KDCA standard schedule's ages (written in
each case's comment), not from the code."""

import copy
import datetime as dt
import json
from pathlib import Path

import pytest
import time_machine

from core.access import Actor
from institutions import sync
from records import vaccinations
from records.queries import records_for
from tests.conftest import login
from tests.factories import (
    InstitutionFactory,
    PatientProfileFactory,
    SourceFactory,
    SyncRunFactory,
    UserFactory,
)
from tests.records_data import import_resources

pytestmark = pytest.mark.django_db

DONE, DUE, OVERDUE, UPCOMING, NOT_GIVEN = "done", "due", "overdue", "upcoming", "not_given"
KR = "http://www.hl7korea.or.kr/fhir/krcore/CodeSystem/krcore-vcnt-types"
CVX = "http://hl7.org/fhir/sid/cvx"
EXAMPLE = json.loads(
    (
        Path(__file__).parent
        / "fixtures/fhir/krcore/Immunization-krcore-immunization-example-01.json"
    ).read_text()
)


# The krcore-vcnt-types displays (KR Core 1.0.2 CodeSystem) of the codes used here.
KR_NAMES = {
    "13": "인플루엔자",
    "18": "B형간염(HepB)",
    "19": "결핵(BCG, 피내접종)",
    "20": "디프테리아/파상풍/백일해 (DTaP)",
    "22": "디프테리아/파상풍/백일해/폴리오/b형 헤모필루스 인플루엔자(DTaP-IPV/Hib)",
    "23": "파상풍/디프테리아(Td)",
    "24": "파상풍/디프테리아/백일해 (Tdap)",
    "26": "b형 헤모필루스 인플루엔자 (Hib)",
    "27": "폐렴구균(PCV, PPSV)",
    "29": "홍역/유행성이하선염/풍진 (MMR)",
    "30": "수두 (VAR)",
    "31": "A형간염(HepA, 소아용)",
    "32": "일본뇌염 (IJEV, 불활성화 백신)",
    "33": "일본뇌염 (LJEV, 약독화 생백신)",
}


def shot(n: int, code: str, day: str, *, dose=None, system=KR, where="마포구보건소") -> dict:
    """KR Core's Immunization example with another vaccine, day, dose number and performer."""
    resource = copy.deepcopy(EXAMPLE)
    resource["id"] = f"imm-{n}"
    name = KR_NAMES.get(code, code) if system == KR else code
    resource["vaccineCode"] = {
        "coding": [{"system": system, "code": code, "display": name}],
        "text": name,
    }
    resource["occurrenceDateTime"] = day
    resource["protocolApplied"] = [{"doseNumberPositiveInt": dose or 1}]
    resource["performer"] = [{"actor": {"display": where}}]
    resource["patient"] = {"reference": "Patient/p"}
    return resource


def shots(given: list[tuple[str, str]]) -> list[dict]:
    """Immunizations of (code, day) pairs, each numbered as the n-th of its code."""
    counts: dict[str, int] = {}
    resources = []
    for i, (code, day) in enumerate(given):
        counts[code] = counts.get(code, 0) + 1
        resources.append(shot(i, code, day, dose=counts[code]))
    return resources


def from_kdca(patient, given: list[tuple[str, str]]) -> None:
    """Immunizations of (code, day) pairs, as KDCA (질병관리청) sends them: each a first dose."""
    import_resources(
        patient, "질병관리청", [shot(i, code, day) for i, (code, day) in enumerate(given)]
    )


def connect(patient, kind: str):
    """A linked source of the agency `kind` ("kdca", "nhis", "hira") for `patient`."""
    return SourceFactory(patient=patient, institution=InstitutionFactory(kind=kind))


def child(birth: dt.date, sex="female"):
    user = UserFactory()
    PatientProfileFactory(user=user, birth_date=birth, sex=sex, full_name="김하은")
    return user


def page_on_the_frozen_day(client, path="/records/vaccinations/", **headers):
    """`path` as the logged-in client sees it on 10 March 2026 (noon in Seoul)."""
    with time_machine.travel(dt.datetime(2026, 3, 10, 3, tzinfo=dt.UTC), tick=False):
        return client.get(path, **headers)


def status(patient, birth, sex, today) -> tuple[dict, vaccinations.Overview]:
    result = vaccinations.overview(
        records_for(Actor.patient(patient)), birth_date=birth, sex=sex, today=today, connected=True
    )
    states = {(d.vaccine, d.dose): d.state for v in result.schedule for d in v.doses}
    return states, result


# The first year's shots of a child born 2025-10-15, on the days the schedule gives them.
INFANT = [
    ("19", "2025-10-29"),  # BCG at 2 weeks
    ("18", "2025-10-15"),  # HepB at birth
    ("18", "2025-11-15"),  # HepB at 1 month
]
# Everything up to 4 years for a girl born 2019-04-10 (the demo child), on time: DTaP-IPV/Hib
# combined (code 22) three times, the 12-15 month shots, HepA twice, IJEV three times.
PRESCHOOL = [
    ("19", "2019-04-24"),
    ("18", "2019-04-10"),
    ("18", "2019-05-10"),
    ("18", "2019-10-10"),
    ("22", "2019-06-10"),
    ("22", "2019-08-10"),
    ("22", "2019-10-10"),
    ("27", "2019-06-10"),
    ("27", "2019-08-10"),
    ("27", "2019-10-10"),
    ("26", "2020-04-20"),
    ("27", "2020-04-20"),
    ("29", "2020-04-20"),
    ("30", "2020-04-20"),
    ("20", "2020-08-10"),
    ("31", "2020-05-10"),
    ("31", "2020-11-20"),
    ("32", "2020-05-20"),
    ("32", "2020-06-03"),
    ("32", "2021-06-10"),
    ("13", "2025-10-20"),  # this season's influenza
]

CASES = [
    pytest.param(
        # 19 days old, nothing recorded: BCG (within 4 weeks) and HepB 1 (first month) due;
        # HepB 2 and the 2-month shots upcoming.
        dt.date(2026, 2, 1),
        "male",
        dt.date(2026, 2, 20),
        [],
        {
            ("BCG", 1): DUE,
            ("HepB", 1): DUE,
            ("HepB", 2): UPCOMING,
            ("DTaP", 1): UPCOMING,
            ("RV", 1): UPCOMING,
        },
        id="newborn-19-days",
    ),
    pytest.param(
        # 5 weeks old, HepB 1 at birth only: BCG is overdue (past 4 weeks), HepB 2 due (1 month,
        # 4 weeks after the first).
        dt.date(2026, 2, 1),
        "male",
        dt.date(2026, 3, 8),
        [("18", "2026-02-01")],
        {("BCG", 1): OVERDUE, ("HepB", 1): DONE, ("HepB", 2): DUE},
        id="five-weeks",
    ),
    pytest.param(
        # 2 months 3 weeks: the 2-month shots (DTaP, IPV, Hib, PCV, RV) due until 3 months;
        # influenza not yet (from 6 months).
        dt.date(2025, 10, 15),
        "female",
        dt.date(2026, 1, 5),
        INFANT,
        {
            ("BCG", 1): DONE,
            ("HepB", 2): DONE,
            ("HepB", 3): UPCOMING,
            ("DTaP", 1): DUE,
            ("IPV", 1): DUE,
            ("Hib", 1): DUE,
            ("PCV", 1): DUE,
            ("RV", 1): DUE,
            ("DTaP", 2): UPCOMING,
        },
        id="two-months",
    ),
    pytest.param(
        # The same child at 9 months, nothing more given: the 2, 4 and 6-month doses overdue,
        # rotavirus no longer given (after 8 months), HepB 3 overdue (6 months); influenza
        # (6 months to 13 years) upcoming: the season starts in October.
        dt.date(2025, 10, 15),
        "female",
        dt.date(2026, 7, 20),
        INFANT,
        {
            ("DTaP", 1): OVERDUE,
            ("DTaP", 2): OVERDUE,
            ("IPV", 3): UPCOMING,  # its window runs to 18 months; dose 2 is missing
            ("HepB", 3): OVERDUE,
            ("RV", 1): NOT_GIVEN,
            ("MMR", 1): UPCOMING,
            ("IIV", "2026–2027"): UPCOMING,
        },
        id="nine-months-behind",
    ),
    pytest.param(
        # The demo child at 6 years 11 months: all done to 4 years; DTaP 5, IPV 4 and MMR 2
        # (4-6 years) and IJEV 4 (6 years) due before 7; Tdap and HPV upcoming; rotavirus absent
        # (her window closed in 2019, before the programme gave it in 2023); influenza done.
        dt.date(2019, 4, 10),
        "female",
        dt.date(2026, 3, 10),
        PRESCHOOL,
        {
            ("BCG", 1): DONE,
            ("HepB", 3): DONE,
            ("DTaP", 4): DONE,
            ("DTaP", 5): DUE,
            ("IPV", 3): DONE,
            ("IPV", 4): DUE,
            ("Hib", 4): DONE,
            ("PCV", 4): DONE,
            ("MMR", 1): DONE,
            ("MMR", 2): DUE,
            ("VAR", 1): DONE,
            ("HepA", 2): DONE,
            ("IJEV", 3): DONE,
            ("IJEV", 4): DUE,
            ("IJEV", 5): UPCOMING,
            ("Tdap", 1): UPCOMING,
            ("HPV", 1): UPCOMING,
            ("IIV", "2025–2026"): DONE,
        },
        id="demo-child-six",
    ),
    pytest.param(
        # The same child at 7 years 1 month, nothing since: the 4-6 year doses overdue, DTaP no
        # longer given after 7 (Tdap later instead); influenza: next season upcoming in June.
        dt.date(2019, 4, 10),
        "female",
        dt.date(2026, 6, 1),
        PRESCHOOL,
        {
            ("DTaP", 5): NOT_GIVEN,
            ("IPV", 4): OVERDUE,
            ("MMR", 2): OVERDUE,
            ("IJEV", 4): OVERDUE,
            ("IIV", "2026–2027"): UPCOMING,
        },
        id="demo-child-seven",
    ),
    pytest.param(
        # A boy of 12 with only his first month's shots: no HPV in the programme for him; Tdap
        # (11-12 years) due until 13; Hib no longer given after 5; JE's first dose overdue, and
        # its fifth (12 years) waits for the ones before it; this season's influenza due.
        dt.date(2013, 9, 1),
        "male",
        dt.date(2026, 3, 10),
        PRESCHOOL[:4],
        {
            ("Tdap", 1): DUE,
            ("Hib", 1): NOT_GIVEN,
            ("IJEV", 1): OVERDUE,
            ("IJEV", 5): UPCOMING,
            ("IIV", "2025–2026"): DUE,
        },
        id="boy-twelve",
    ),
    pytest.param(
        # A girl of 13 years 10 months with nothing recorded: HPV (12 years) and Tdap (11-12)
        # overdue; influenza still in the children's programme until her 14th birthday.
        dt.date(2012, 5, 1),
        "female",
        dt.date(2026, 3, 10),
        [],
        {("HPV", 1): OVERDUE, ("HPV", 2): OVERDUE, ("Tdap", 1): OVERDUE, ("IIV", "2025–2026"): DUE},
        id="girl-thirteen",
    ),
]


@pytest.mark.parametrize(("birth", "sex", "today", "given", "expected"), CASES)
def test_childrens_schedule_on_a_frozen_day(birth, sex, today, given, expected):
    patient = child(birth, sex)
    if given:
        from_kdca(patient, given)

    states, result = status(patient, birth, sex, today)

    assert result.is_child
    assert {key: states.get(key) for key in expected} == expected
    if sex == "male":
        assert not any(vaccine == "HPV" for vaccine, _dose in states)
    if birth.year < 2023:
        assert not any(vaccine == "RV" for vaccine, _dose in states)


def test_a_combined_vaccine_counts_for_each_of_its_parts_and_the_record_lists_it(patient):
    birth = dt.date(2025, 10, 15)
    import_resources(patient, "질병관리청", [shot(1, "22", "2025-12-15")])  # DTaP-IPV/Hib

    states, result = status(patient, birth, "female", dt.date(2026, 1, 5))

    assert (states[("DTaP", 1)], states[("IPV", 1)], states[("Hib", 1)]) == (DONE, DONE, DONE)
    assert states[("PCV", 1)] == DUE
    by_vaccine = {v.key: v.doses for v in result.by_vaccine}
    assert [g.where for g in by_vaccine["DTaP"]] == ["마포구보건소"]
    assert by_vaccine["DTaP"][0].day == dt.date(2025, 12, 15)


def test_a_child_on_the_live_japanese_encephalitis_vaccine_follows_its_two_doses():
    birth = dt.date(2019, 4, 10)
    patient = child(birth)
    import_resources(patient, "질병관리청", [shot(1, "33", "2020-05-01")])

    states, _result = status(patient, birth, "female", dt.date(2021, 6, 1))

    assert states[("LJEV", 1)] == DONE
    assert states[("LJEV", 2)] == DUE
    assert not any(vaccine == "IJEV" for vaccine, _dose in states)


def test_synthea_cvx_records_count_on_the_korean_schedule(patient):
    # A real Synthea child (born 2014-12-07, US schedule, CVX codes): every shot counts for a
    # vaccine of the schedule; at 11 her childhood series are done, Tdap (11-12) is due, and
    # Japanese encephalitis, not given in the US, is overdue.
    bundle = json.loads(
        (
            Path(__file__).parent
            / "fixtures/fhir/synthea/Ossie_Rodriguez_d7ec3d8f-7be8-4a94-a20c-e694f7bfdb80.json"
        ).read_text()
    )
    entries = [e["resource"] for e in bundle["entry"]]
    shots = [r for r in entries if r["resourceType"] == "Immunization"]
    birth = dt.date.fromisoformat(
        next(r for r in entries if r["resourceType"] == "Patient")["birthDate"]
    )
    import_resources(patient, "Synthea", shots)

    states, result = status(patient, birth, "female", dt.date(2026, 3, 10))

    assert result.others == []
    assert sum(len(v.doses) for v in result.by_vaccine) == len(shots)
    assert {key: states[key] for key in [("DTaP", 5), ("IPV", 4), ("MMR", 2), ("HepA", 2)]} == {
        ("DTaP", 5): DONE,
        ("IPV", 4): DONE,
        ("MMR", 2): DONE,
        ("HepA", 2): DONE,
    }
    assert states[("Tdap", 1)] == DUE
    assert states[("IJEV", 1)] == OVERDUE


@pytest.mark.parametrize(
    ("given", "today", "expected"),
    [
        # Td ten years ago and more: due; influenza this season: done.
        (
            [("23", "2015-05-01"), ("13", "2025-10-20")],
            dt.date(2026, 3, 10),
            {"Tdap": DUE, "IIV": DONE},
        ),
        # Td four years ago: done until 2032; no influenza this season: due in March.
        ([("24", "2022-05-01")], dt.date(2026, 3, 10), {"Tdap": DONE, "IIV": DUE}),
        # No Td recorded: one is due; influenza in summer: upcoming.
        ([], dt.date(2026, 7, 1), {"Tdap": DUE, "IIV": UPCOMING}),
    ],
)
def test_adults_recommendations(patient, given, today, expected):
    if given:
        from_kdca(patient, given)
    birth = patient.profile.birth_date  # 1962: 63, so PPSV23 (65) is not yet listed

    result = vaccinations.overview(
        records_for(Actor.patient(patient)),
        birth_date=birth,
        sex="male",
        today=today,
        connected=True,
    )

    states = {v.key: v.doses[0].state for v in result.schedule}
    assert not result.is_child
    assert {k: states[k] for k in expected} == expected
    assert "PPSV" not in states
    assert states["HZV"] == DUE  # from 50


def test_reminder_keys_are_one_per_dose_and_state():
    birth = dt.date(2026, 2, 1)
    patient = child(birth, "male")
    _, early = status(patient, birth, "male", dt.date(2026, 2, 20))
    _, again = status(patient, birth, "male", dt.date(2026, 2, 25))

    assert [d.reminder_key for d in early.attention] == [d.reminder_key for d in again.attention]
    assert "vaccination:BCG:1:due" in [d.reminder_key for d in early.attention]


def test_the_vaccinations_page_shows_the_childs_schedule(client):
    birth = dt.date(2019, 4, 10)
    patient = child(birth)
    from_kdca(patient, PRESCHOOL)
    connect(patient, "kdca")
    login(client, patient.email)

    page = page_on_the_frozen_day(client).content.decode()

    assert "Diphtheria, tetanus, pertussis (DTaP)" in page
    assert 'class="dose dose-due"' in page
    assert 'class="dose dose-done"' in page
    assert "표준예방접종일정표" in page  # the schedule's source, named
    assert "마포구보건소" in page


def test_a_guardian_sees_the_childs_schedule_under_the_childs_address(client):
    from django.utils import timezone

    from sharing.models import Delegation, DelegationKind

    birth = dt.date(2019, 4, 10)
    patient = child(birth)
    import_resources(patient, "질병관리청", shots(PRESCHOOL))
    connect(patient, "kdca")
    parent = UserFactory()
    Delegation.objects.create(
        kind=DelegationKind.GUARDIAN,
        patient=patient,
        delegate=parent,
        accepted_at=timezone.now(),
        expires_at=timezone.now() + dt.timedelta(days=365),
    )
    login(client, parent.email)

    response = page_on_the_frozen_day(client, f"/for/{patient.code}/records/vaccinations/")
    own = page_on_the_frozen_day(client).content.decode()

    page = response.content.decode()
    assert response.status_code == 200
    assert 'class="dose dose-due"' in page
    assert "Born April 10, 2019 (age 6)" in page
    assert "Add a birth date to your profile" in own  # the parent's own page: no profile


# --- Without KDCA, or with a dose sent twice -----------------------------------------------------


def test_without_kdca_the_page_says_so_and_no_dose_is_due_or_overdue(client):
    # A 6-year-old with no vaccination record and no KDCA link: nothing was fetched, so nothing
    # may read "overdue" or "no vaccination recorded".
    patient = child(dt.date(2019, 4, 10))
    login(client, patient.email)

    page = page_on_the_frozen_day(client, HTTP_ACCEPT_LANGUAGE="en").content.decode()

    assert "KDCA is not connected." in page
    assert "not what you have had" in page
    assert "need attention" not in page
    assert "dose-overdue" not in page
    assert "dose-due" not in page
    assert "dose-recommended" in page
    assert "No vaccination recorded yet" not in page


def test_with_kdca_connected_and_nothing_sent_the_page_says_kdca_sent_none(client):
    patient = child(dt.date(2019, 4, 10))
    kdca = connect(patient, "kdca")
    login(client, patient.email)

    page = page_on_the_frozen_day(client, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    # Its first sync has not completed: nothing is known yet (tests/test_not_fetched.py).
    assert "KDCA sent no vaccination record." not in page
    assert "have not arrived" in page

    sync._succeed(SyncRunFactory(source=kdca, status="running"))  # it completes, empty
    page = page_on_the_frozen_day(client, HTTP_ACCEPT_LANGUAGE="en").content.decode()

    assert "KDCA is not connected." not in page
    assert "KDCA sent no vaccination record." in page
    assert "dose-overdue" in page  # connected: the national record, so a missing dose is one


def test_the_same_dose_from_kdca_and_the_health_centre_counts_once(client):
    # HepB on the day of birth and at 1 month, each sent by KDCA and by the health centre: two
    # doses, not four — the third (6 months) is still to come, not "done".
    birth = dt.date(2025, 10, 15)
    patient = child(birth)
    doses = [("18", "2025-10-15"), ("18", "2025-11-15")]
    from_kdca(patient, doses)
    import_resources(
        patient,
        "마포구보건소",
        [shot(10 + i, c, d, where="마포구보건소") for i, (c, d) in enumerate(doses)],
    )

    states, result = status(patient, birth, "female", dt.date(2026, 3, 1))

    assert states[("HepB", 2)] == DONE
    assert states[("HepB", 3)] in (DUE, UPCOMING)
    (hepb,) = [v for v in result.by_vaccine if v.key == "HepB"]
    assert len(hepb.doses) == 4  # the record lists both senders' entries


@pytest.mark.parametrize("day", ["0001-01-01", "0001-01-01T00:00:00Z", "9999-12-31T23:00:00Z"])
def test_a_vaccination_dated_at_the_ends_of_the_calendar_is_listed_not_a_500(client, day):
    """QA: an Immunization of year 1 or 9999 broke the page (a day in Seoul outside Python's
    calendar). It is listed, with the day its resource says; the other doses count."""
    patient = child(dt.date(2019, 4, 10))
    from_kdca(patient, [("01", "2019-04-12"), ("01", day)])
    connect(patient, "kdca")
    login(client, patient.email)

    response = page_on_the_frozen_day(client, HTTP_ACCEPT_LANGUAGE="en")

    assert response.status_code == 200
    page = response.content.decode()
    assert 'class="dose dose-done"' in page
    assert ("0001" if day.startswith("0001") else "9999") in page
