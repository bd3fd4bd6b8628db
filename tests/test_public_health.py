"""The public health centre's records: vaccinations by the Korean schedule, check-ups by age.

The expected ages below are written from the KDCA schedule (표준예방접종일정표) and the NHIS
check-up rules, independently of mockhospital/generator.py, so the test can catch the generator.
"""

import datetime as dt
import io

import pytest
from django.core.management import call_command

from accounts.models import User
from institutions import domain
from institutions.models import Institution, RunStatus, Source
from mockhospital.generator import KST, InstitutionSpec, PatientSpec, generate
from records.models import Record
from tests.conftest import run_to_end

CVX = "http://hl7.org/fhir/sid/cvx"
KR_VACCINES = "http://www.hl7korea.or.kr/fhir/krcore/CodeSystem/krcore-vcnt-types"
CENTRE = InstitutionSpec("health", "테스트보건소", "11700001", "71", "public_health", "서울")
# CVX code → (youngest, oldest) age in years at which the dose is given.
AGE_AT_DOSE = {
    "19": (0, 0.1),  # BCG, within 4 weeks of birth
    "08": (0, 1),  # hepatitis B, 0-1-6 months
    "20": (0.1, 7),  # DTaP, 2-4-6 months, 15-18 months, 4-6 years
    "10": (0.1, 7),  # IPV
    "17": (0.1, 1.5),  # Hib
    "133": (0.1, 1.5),  # PCV
    "122": (0.1, 0.7),  # rotavirus
    "03": (1, 7),  # MMR, 12-15 months and 4-6 years
    "21": (1, 1.5),  # varicella
    "83": (1, 3),  # hepatitis A
    "134": (1, 13),  # Japanese encephalitis, inactivated
    "115": (11, 13),  # Tdap
    "62": (11, 13.5),  # HPV (girls)
    "158": (0.5, 120),  # influenza
    "213": (12, 120),  # COVID-19
    "139": (19, 120),  # Td booster
    "121": (50, 120),  # zoster
    "33": (65, 120),  # PPSV23
}
CHILDHOOD = {"19", "08", "20", "10", "17", "133", "122", "03", "21", "83", "134"}


def _age(birth: dt.date, day: dt.date) -> float:
    return (day - birth).days / 365.25


def _immunizations(resources):
    doses = []
    for resource in resources:
        if resource["resourceType"] != "Immunization":
            continue
        codes = {c["system"]: c["code"] for c in resource["vaccineCode"]["coding"]}
        day = dt.datetime.fromisoformat(resource["occurrenceDateTime"]).date()
        doses.append((day, codes[CVX], resource["protocolApplied"][0]["doseNumberPositiveInt"]))
    return sorted(doses)


def _check_ages(doses, birth):
    for day, cvx, dose in doses:
        youngest, oldest = AGE_AT_DOSE[cvx]
        assert youngest <= _age(birth, day) <= oldest, (day, cvx, dose)
        if cvx == "158":  # the flu season: October to December
            assert day.month in (10, 11, 12), (day, cvx)
        if cvx == "213":  # Korea's COVID-19 vaccination began on 26 February 2021
            assert day >= dt.date(2021, 2, 26), (day, cvx)
    by_vaccine = {}
    for day, cvx, dose in doses:  # each series counts up, one dose at a time
        if cvx != "158":
            assert dose == by_vaccine.get(cvx, 0) + 1, (day, cvx, dose)
            by_vaccine[cvx] = dose
    return by_vaccine


def test_public_health_centre_gives_a_child_the_national_schedule():
    birth = dt.date(2021, 5, 10)
    until = dt.datetime(2026, 11, 1, 12, tzinfo=KST)
    spec = PatientSpec(
        "P1",
        "k" * 64,
        seed=1,
        size=50,
        history_start=dt.datetime(2021, 5, 1, tzinfo=KST),
        span_days=2000,
        full_name="박하은",
        birth_date=birth,
        sex="female",
    )

    doses = _immunizations(generate(CENTRE, spec, since=None, until=until))

    series = _check_ages(doses, birth)
    # A child of five has had the infant series (coverage is ~97 %, but this child is complete
    # only if the draw says so: at least the core series must be there).
    assert series.get("20", 0) >= 3  # DTaP 2-4-6 months (the 5th dose comes at 4-6 years)
    assert series.get("08", 0) == 3  # hepatitis B 0-1-6 months
    assert series.get("03", 0) >= 1  # MMR at 12-15 months
    assert {cvx for _, cvx, _ in doses} & {"33", "121", "139"} == set()  # no adult vaccines


def test_public_health_centre_gives_an_older_adult_no_childhood_vaccines():
    birth = dt.date(1955, 9, 1)
    until = dt.datetime(2026, 11, 1, 12, tzinfo=KST)
    spec = PatientSpec(
        "P2",
        "m" * 64,
        seed=2,
        size=50,
        history_start=until - dt.timedelta(days=6 * 365),
        full_name="최영수",
        birth_date=birth,
        sex="male",
    )

    resources = list(generate(CENTRE, spec, since=None, until=until))
    doses = _immunizations(resources)

    _check_ages(doses, birth)
    assert not {cvx for _, cvx, _ in doses} & CHILDHOOD
    # National health check-ups: every two years, in the years of the birth year's parity.
    checkups = {
        dt.datetime.fromisoformat(r["effectiveDateTime"]).year
        for r in resources
        if r["resourceType"] == "Observation" and r["code"]["coding"][0]["code"] == "85354-9"
    }
    assert checkups
    assert {year % 2 for year in checkups} == {birth.year % 2}


@pytest.mark.django_db(transaction=True)
def test_demo_patient_has_immunizations_from_the_public_health_centre(live_server, settings):
    settings.DEBUG = True
    settings.SITE_URL = live_server.url  # the demo's institutions point at the running server
    call_command("demo", stdout=io.StringIO())
    patient = User.objects.get(email="patient@example.com")
    centre = Institution.objects.get(hira_number="11700505")  # 마포구보건소

    source = domain.link_institution(patient=patient, institution=centre)
    run = run_to_end(source.runs.get())

    assert run.status == RunStatus.SUCCEEDED, run.error
    assert Source.objects.filter(patient=patient, institution=centre).count() == 1
    records = Record.objects.filter(patient=patient, source=source)
    doses = _immunizations(r.resource for r in records.filter(resource_type="Immunization"))
    birth = patient.profile.birth_date
    assert len(doses) >= 3
    _check_ages(doses, birth)
    assert not {cvx for _, cvx, _ in doses} & CHILDHOOD  # 김민준 was born in 1962
    assert all(
        {c["system"] for c in r.resource["vaccineCode"]["coding"]} >= {CVX}
        for r in records.filter(resource_type="Immunization")
    )
    assert records.filter(resource_type="Observation", code_value="85354-9").exists()
