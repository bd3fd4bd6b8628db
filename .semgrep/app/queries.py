# A query module: the one place a patient's rows are filtered directly, so the
# unscoped-patient-query rule must NOT fire here (tests/test_tools.py). Never imported.
# ruff: noqa


def shares_for(actor):
    return Share.objects.filter(patient_id=actor.patient_id)
