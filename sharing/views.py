"""The patient's side of sharing: the list, a new share, its detail, revoke, reissue and the
preview of what the recipient sees (`sharing.recipient`)."""

import segno
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from records.queries import records_for
from sharing import domain, queries, recipient
from sharing.forms import ShareForm
from sharing.grants import actor_for_share

# Session keys under which a new link is kept for the one page that shows it.
NEW_TOKEN_KEY = "sharing:new-token:{}"  # noqa: S105 - a key name, not a secret
NEW_SHLINK_KEY = "sharing:new-shlink:{}"


# --- The patient's side ------------------------------------------------------------------


@login_required
@require_GET
def share_list(request):
    return render(request, "sharing/list.html", {"shares": queries.share_list(request.actor)})


@login_required
@require_http_methods(["GET", "POST"])
def share_new(request):
    form = ShareForm(request.POST if request.method == "POST" else None, actor=request.actor)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        share, token = domain.create_share(
            actor=request.actor,
            label=data["label"],
            purpose=data["purpose"],
            categories=data["categories"],
            sources=data["sources"],
            date_from=data["date_from"],
            date_to=data["date_to"],
            expires_at=form.expires_at(),
            passcode=data["passcode"],
            allow_download=data["allow_download"],
            notify_on_open=data["notify_on_open"],
            include_explanations=data["include_explanations"],
            request=request,
        )
        # The token (and the SHL's key) exist nowhere but here: shown on the next page once.
        request.session[NEW_TOKEN_KEY.format(share.code)] = token
        if share.shlink:
            request.session[NEW_SHLINK_KEY.format(share.code)] = share.shlink
        return redirect("share_detail", code=share.code)
    return render(request, "sharing/new.html", {"form": form})


@login_required
@require_GET
def share_detail(request, code):
    share = queries.share_for(request.actor, code)
    token = request.session.pop(NEW_TOKEN_KEY.format(share.code), None)
    context = {
        "share": share,
        "accesses": share.accesses.all()[:200],
        "scope_count": records_for(actor_for_share(share)).count(),
    }
    if token:
        link = domain.share_url(token, request=request)
        qr = segno.make(link, error="m")
        context.update(
            link=link,
            qr_png=qr.png_data_uri(scale=6, border=2),
            qr_svg=qr.svg_data_uri(scale=6, border=2),
        )
    shlink = request.session.pop(NEW_SHLINK_KEY.format(share.code), None)
    if shlink:
        qr = segno.make(shlink, error="m")
        context.update(shlink=shlink, shl_qr=qr.png_data_uri(scale=4, border=2))
    return render(request, "sharing/detail.html", context)


@login_required
@require_POST
def share_revoke(request, code):
    share = queries.share_for(request.actor, code)
    domain.revoke_share(share=share, request=request)
    messages.success(request, _("The share is revoked: the link no longer works."))
    return redirect("share_detail", code=share.code)


@login_required
@require_POST
def share_reissue(request, code):
    share = queries.share_for(request.actor, code)
    try:
        token = domain.reissue_share(share=share, request=request)
    except domain.NotReissuable as refused:
        messages.error(request, refused.message)
        return redirect("share_detail", code=share.code)
    # The new links exist nowhere but here, as at creation: shown on the next page once.
    request.session[NEW_TOKEN_KEY.format(share.code)] = token
    if share.shlink:
        request.session[NEW_SHLINK_KEY.format(share.code)] = share.shlink
    messages.success(request, _("New links were made; the old ones no longer work."))
    return redirect("share_detail", code=share.code)


@login_required
@require_GET
def share_preview(request, code):
    """Exactly what the recipient sees, shown to the patient (nothing is logged as an access)."""
    share = queries.share_for(request.actor, code)
    return render(
        request,
        "sharing/recipient/view.html",
        recipient.scope_context(request, share, actor=actor_for_share(share), preview=True),
    )
