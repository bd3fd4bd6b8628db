from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from notifications import domain, queries
from notifications.forms import PreferencesForm
from notifications.messages import message

PAGE = 50


@login_required
@require_GET
def notification_list(request):
    """The reader's notifications, newest first (the latest PAGE)."""
    rows = list(queries.notifications_for(request.user)[:PAGE])
    for row in rows:
        row.text = message(row)
    unread = sum(1 for row in rows if row.read_at is None)
    return render(request, "notifications/list.html", {"notifications": rows, "unread": unread})


@login_required
@require_POST
def mark_read(request):
    domain.mark_read(user=request.user)
    return redirect("notifications")


@login_required
@require_GET
def bell(request):
    """The bell's unread count (a fragment, loaded after the page)."""
    return render(
        request, "notifications/_bell.html", {"unread": queries.unread_count(request.user)}
    )


@login_required
@require_http_methods(["GET", "POST"])
def preferences(request):
    current = domain.preferences(request.user)
    form = PreferencesForm(request.POST or None, current=current)
    if request.method == "POST" and form.is_valid():
        domain.set_preferences(user=request.user, choices=form.choices())
        messages.success(request, _("Your notification settings were saved."))
        return redirect("notification_preferences")
    return render(request, "notifications/preferences.html", {"form": form})
