from allauth.mfa.utils import is_mfa_enabled
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from accounts import domain, queries
from accounts.forms import IdentityVerificationForm


@login_required
@require_http_methods(["GET", "POST"])
def verify_identity(request):
    profile = queries.profile_for(request.actor)
    initial = {
        "full_name": profile.full_name,
        "birth_date": profile.birth_date,
        "sex": profile.sex,
        "phone": profile.phone,
    }
    form = IdentityVerificationForm(
        request.POST if request.method == "POST" else None, initial=initial
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            domain.verify_identity(
                user=request.user,
                full_name=data["full_name"],
                birth_date=data["birth_date"],
                sex=data["sex"],
                phone=data["phone"],
                request=request,
            )
        except domain.IdentityAlreadyLinked:
            form.add_error(
                None,
                _(
                    "This identity is already linked to another PHR account. "
                    "Log in with that account, or contact support if it is not yours."
                ),
            )
        else:
            messages.success(request, _("Your identity is verified."))
            return redirect("dashboard")
    return render(request, "accounts/verify_identity.html", {"form": form, "profile": profile})


@login_required
@require_GET
def account_home(request):
    return render(
        request,
        "accounts/account_home.html",
        {
            "profile": queries.profile_for(request.actor),
            "mfa_enabled": is_mfa_enabled(request.user),
        },
    )
