"""The parent's pages: the children they act for, and adding one (sharing.family)."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from accounts import domain as accounts_domain
from accounts.queries import profile_for
from core.access import Actor
from sharing import delegation, family
from sharing.family_forms import AddChildForm


@login_required
@require_http_methods(["GET", "POST"])
def children(request):
    """The children the user acts for (each until their 14th birthday), and the form to add
    one, checked against the family registry."""
    form = AddChildForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            family.add_child(
                guardian=request.user,
                full_name=data["full_name"],
                birth_date=data["birth_date"],
                sex=data["sex"],
                request=request,
            )
        except family.ChildRefused as exc:
            form.add_error(None, exc.message)
        else:
            delegation.remember_grants(request)  # the switcher in the header shows the child
            messages.success(
                request,
                _(
                    "The family registry confirmed %(name)s as your child. You can now link "
                    "%(name)s's hospitals and see their records."
                )
                % {"name": data["full_name"]},
            )
            return redirect("family_children")
    grants = family.children_of(request.user)
    rows = [
        {
            "grant": grant,
            "profile": grant.patient.profile,
            "ends": accounts_domain.age_out_at(grant.patient.profile.birth_date),
        }
        for grant in grants
    ]
    return render(
        request,
        "sharing/family_children.html",
        {
            "form": form,
            "rows": rows,
            "own_profile": profile_for(Actor.patient(request.user)),
        },
    )
