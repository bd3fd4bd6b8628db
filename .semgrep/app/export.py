# An export the unscoped-patient-query rule must catch (tests/test_tools.py runs semgrep on it).
# Never imported.
# ruff: noqa


def records_of(patient):
    return Record.objects.select_related("source").filter(source__patient=patient)


def profile_of(user):
    return get_object_or_404(PatientProfile, user=user)


def run_of(pk):
    return SyncRun.objects.get(pk=pk)
