from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.views.decorators.http import require_GET

from accounts.domain import profile_for


@login_required
@require_GET
def dashboard(request):
    """The patient's home. Until records arrive it says what to do next, step by step."""
    profile = profile_for(request.user)
    return render(request, "records/dashboard.html", {"profile": profile})
