from allauth.mfa.utils import is_mfa_enabled
from django.contrib import messages
from django.contrib.auth import login
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
        child = (
            None
            if profile.is_verified
            else domain.claimable_child(
                full_name=data["full_name"], birth_date=data["birth_date"], sex=data["sex"]
            )
        )
        if child is not None:
            return _claim(request, child=child, phone=data["phone"], form=form, profile=profile)
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


def _claim(request, *, child, phone, form, profile):
    """The identity just verified is a child's whose parents kept their record until 14: the
    new account takes it over (accounts.domain.claim_child_record) and is logged in as it."""
    try:
        account = domain.claim_child_record(
            user=request.user, child=child, phone=phone, request=request
        )
    except domain.ChildClaimRefused:
        form.add_error(
            None,
            _(
                "A record kept for you by your parents is waiting, but this account already "
                "holds records of its own. Sign up again with a new account to take it over, "
                "or contact support."
            ),
        )
        return render(request, "accounts/verify_identity.html", {"form": form, "profile": profile})
    login(request, account, backend="django.contrib.auth.backends.ModelBackend")
    messages.success(
        request,
        _(
            "Your identity is verified. The records your parents kept for you are now yours, "
            "with everything synced so far."
        ),
    )
    return redirect("dashboard")


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
