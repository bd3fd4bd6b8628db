# A template tag the unscoped-patient-query rule must catch (tests/test_tools.py). Never imported.
# ruff: noqa


@register.simple_tag
def share_count(user):
    return Share.objects.filter(patient=user).count()
