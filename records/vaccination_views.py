"""The vaccinations page: the patient's (or child's) record by vaccine and the national
schedule for their age (records.vaccinations), read through the actor's scoped records."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.views.decorators.http import require_GET

from accounts.queries import profile_for
from records import readmodels, vaccinations
from records.queries import linked_agencies, records_for


@login_required
@require_GET
def vaccinations_page(request):
    profile = profile_for(request.actor)
    overview = vaccinations.overview(
        records_for(request.actor),
        birth_date=profile.birth_date,
        sex=profile.sex or "",
        connected="kdca" in linked_agencies(request.actor.patient_id),
    )
    context = {"overview": overview, "profile": profile}
    # The linked sources that have not completed a sync: an empty record says they have not
    # arrived (templates/records/_none_recorded.html), not that none was given.
    context["not_fetched"] = readmodels.unfetched_names(request.actor)
    return render(request, "records/vaccinations.html", context)
