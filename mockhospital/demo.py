"""The demo's mock institutions and which demo patients each one knows."""

from django.utils import timezone

from accounts.demo import DEMO_CHILDREN
from accounts.models import User
from core import scopes
from mockhospital import domain
from mockhospital.models import MockInstitution, Profile
from sharing import family

DEMO_INSTITUTIONS = [
    {
        "slug": "hanbit-univ",
        "name": "서울한빛대학교병원",
        "name_en": "Seoul Hanbit University Hospital",
        "hira_number": "11100101",
        "type_code": "01",
        "region": "서울특별시 종로구",
        "profile": Profile.TERTIARY,
        "patient_size": 1500,
        "history_years": 8,
        "seed": 101,
        "knows_fraction": 0.3,
    },
    {
        # The flaky one: slow, errors, rate limits, now and then an invalid resource.
        "slug": "hangang-general",
        "name": "한강종합병원",
        "name_en": "Hangang General Hospital",
        "hira_number": "31100202",
        "type_code": "11",
        "region": "경기도 고양시",
        "profile": Profile.GENERAL,
        "patient_size": 600,
        "history_years": 5,
        "seed": 202,
        "knows_fraction": 0.3,
        "default_page_size": 50,
        "faults": {
            "latency_ms": 150,
            "error_rate": 0.15,
            "rate_limit_rate": 0.1,
            "retry_after": 1,
            "invalid_rate": 0.01,
        },
    },
    {
        "slug": "pureun-clinic",
        "name": "푸른내과의원",
        "name_en": "Pureun Internal Medicine Clinic",
        "hira_number": "11300303",
        "type_code": "31",
        "region": "서울특별시 마포구",
        "profile": Profile.CLINIC,
        "patient_size": 300,
        "history_years": 6,
        "seed": 303,
        "knows_fraction": 0.5,
        "supports_everything": False,
    },
    {
        "slug": "miso-dental",
        "name": "미소치과의원",
        "name_en": "Miso Dental Clinic",
        "hira_number": "21500404",
        "type_code": "51",
        "region": "부산광역시 해운대구",
        "profile": Profile.DENTAL,
        "patient_size": 60,
        "history_years": 4,
        "seed": 404,
        "knows_fraction": 0.4,
    },
    {
        "slug": "mapo-health",
        "name": "마포구보건소",
        "name_en": "Mapo-gu Public Health Center",
        "hira_number": "11700505",
        "type_code": "71",
        "region": "서울특별시 마포구",
        "profile": Profile.PUBLIC_HEALTH,
        "patient_size": 50,
        "history_years": 6,
        "seed": 505,
        "knows_fraction": 0.6,
    },
]
# The public agencies: they know every verified person (knows_fraction 1), and serve more
# history than the platform keeps (its windows: institutions.windows).
DEMO_AGENCIES = [
    {
        "slug": "nhis",
        "name": "국민건강보험공단",
        "name_en": "National Health Insurance Service (NHIS)",
        "hira_number": "00000001",
        "type_code": "00",
        "region": "강원특별자치도 원주시",
        "profile": Profile.NHIS,
        "patient_size": 200,
        "history_years": 14,
        "seed": 901,
        "knows_fraction": 1.0,
    },
    {
        "slug": "hira",
        "name": "건강보험심사평가원",
        "name_en": "Health Insurance Review and Assessment Service (HIRA)",
        "hira_number": "00000002",
        "type_code": "00",
        "region": "강원특별자치도 원주시",
        "profile": Profile.HIRA,
        "patient_size": 100,
        "history_years": 3,
        "seed": 902,
        "knows_fraction": 1.0,
    },
    {
        "slug": "kdca",
        "name": "질병관리청",
        "name_en": "Korea Disease Control and Prevention Agency (KDCA)",
        "hira_number": "00000003",
        "type_code": "00",
        "region": "충청북도 청주시",
        "profile": Profile.KDCA,
        "patient_size": 60,
        "history_years": 3,
        "seed": 903,
        "knows_fraction": 1.0,
    },
]
AGENCY_SLUGS = [spec["slug"] for spec in DEMO_AGENCIES]
# The people registered at every agency with their demographics (so that their history follows
# their real age): the demo patients' e-mails; the demo child is added by the family work.
AGENCY_PEOPLE = ["patient@example.com", "other@example.com"]
DEMO_LINKS = {
    # Both live in Mapo-gu: its public health centre holds their vaccinations and check-ups.
    "patient@example.com": ["hanbit-univ", "hangang-general", "pureun-clinic", "mapo-health"],
    "other@example.com": ["hangang-general", "miso-dental", "mapo-health"],
}
# The demo child (accounts.demo.DEMO_CHILDREN) by name: where she has been seen, and how many
# resources each place holds for her (a child's visits are fewer than an adult's).
DEMO_CHILD_LINKS = {
    "김하은": {"hangang-general": 150, "mapo-health": None}
    | dict.fromkeys(AGENCY_SLUGS),  # the agencies know every resident
}


def create_demo_children() -> list[User]:
    """Add the demo children as their parent would (the family registry confirms them; a
    guardian grant to the 14th birthday). Idempotent: a child already added is kept."""
    children = []
    for email, (name, birth_date, sex) in DEMO_CHILDREN:
        guardian = User.objects.get(email=email)
        with scopes.scopes_disabled():
            held = [g.patient for g in family.children_of(guardian)]
        child = next((c for c in held if c.profile.full_name == name), None)
        if child is None:
            child = family.add_child(
                guardian=guardian, full_name=name, birth_date=birth_date, sex=sex
            ).patient
        children.append(child)
    return children


def create_demo_hospitals() -> list[MockInstitution]:
    """Create or refresh the demo institutions and register the demo patients there.

    Idempotent; an existing institution keeps its clock (and so its data).
    """
    institutions = []
    now = timezone.now().replace(minute=0, second=0, microsecond=0)
    for spec in DEMO_INSTITUTIONS + DEMO_AGENCIES:
        spec = dict(spec)
        faults = spec.pop("faults", {})
        institution, _ = MockInstitution.objects.update_or_create(
            slug=spec["slug"],
            defaults={
                **spec,
                "client_id": spec["slug"],
                "client_secret": f"mock-secret-{spec['slug']}",
            },
            create_defaults={
                **spec,
                "client_id": spec["slug"],
                "client_secret": f"mock-secret-{spec['slug']}",
                "clock": now,
            },
        )
        domain.set_faults(institution=institution, settings=faults)
        institutions.append(institution)
    by_slug = {i.slug: i for i in institutions}
    for email, slugs in DEMO_LINKS.items():
        profile = User.objects.get(email=email).profile
        for slug in slugs:
            domain.register_patient(
                institution=by_slug[slug],
                identifier=profile.verified_identifier,
                full_name=profile.full_name,
                birth_date=profile.birth_date,
                sex=profile.sex,
                phone=profile.phone,
            )
    for email in AGENCY_PEOPLE:
        profile = User.objects.get(email=email).profile
        for slug in AGENCY_SLUGS:
            domain.register_patient(
                institution=by_slug[slug],
                identifier=profile.verified_identifier,
                full_name=profile.full_name,
                birth_date=profile.birth_date,
                sex=profile.sex,
                phone=profile.phone,
            )
    with scopes.scopes_disabled():
        children = {
            g.patient.profile.full_name: g.patient.profile
            for email, _child in DEMO_CHILDREN
            for g in family.children_of(User.objects.get(email=email))
        }
    for name, places in DEMO_CHILD_LINKS.items():
        if name not in children:
            continue
        profile = children[name]
        for slug, size in places.items():
            domain.register_patient(
                institution=by_slug[slug],
                identifier=profile.verified_identifier,
                full_name=profile.full_name,
                birth_date=profile.birth_date,
                sex=profile.sex,
                size=size,
            )
    return institutions
