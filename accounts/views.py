from allauth.account.decorators import reauthentication_required
from allauth.mfa.utils import is_mfa_enabled
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts import domain, export
from accounts.forms import DeleteAccountForm, IdentityVerificationForm


@login_required
@require_http_methods(["GET", "POST"])
def verify_identity(request):
    profile = domain.profile_for(request.user)
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
        {"profile": domain.profile_for(request.user), "mfa_enabled": is_mfa_enabled(request.user)},
    )


@login_required
@require_POST
def download_all(request):
    """ "Download all my data": a ZIP of records, account facts and activity (POST: it is an
    audited action, not something a prefetching browser should trigger)."""
    return export.download_response(request)


@login_required
@reauthentication_required(allow_get=True)
@require_http_methods(["GET", "POST"])
def delete_account(request):
    """Erase the account after a fresh password (or second factor) check and an explicit yes."""
    form = DeleteAccountForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        domain.delete_account(user=request.user, request=request)
        logout(request)
        messages.success(request, _("Your account and all your records have been deleted."))
        return redirect("landing")
    return render(request, "accounts/delete_account.html", {"form": form})
