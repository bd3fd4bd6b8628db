"""The national health check-up pages: the check-ups by year, one year's results with what
changed since the one before, and one item's trend across years (records.checkups)."""

from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from records import charts, checkups, queries


@login_required
@require_GET
def checkup_index(request):
    records = queries.records_for(request.actor)
    listed = checkups.checkup_list(records)
    # Without NHIS linked the check-ups were never fetched: when the next is due is unknown.
    connected = "nhis" in queries.linked_agencies(request.actor.patient_id)
    due = checkups.next_checkup_due(request.actor) if connected else None
    latest = checkups.checkup_detail(records, listed[0]["year"]) if listed else None
    return render(
        request,
        "records/checkups.html",
        {
            "checkups": listed,
            "latest": latest,
            "connected": connected,
            "due": due,
            "due_now": due is not None and due <= timezone.localdate(),
            "categories": [
                (checkups.RESULT_KOREAN[k], w) for k, w in checkups.RESULT_WORDS.items()
            ],
        },
    )


@login_required
@require_GET
def checkup_year(request, year):
    detail = checkups.checkup_detail(queries.records_for(request.actor), year)
    if detail is None:
        raise Http404
    return render(request, "records/checkup_year.html", detail)


@login_required
@require_GET
def checkup_trend(request, code):
    records = queries.records_for(request.actor)
    found = checkups.item_series(records, code)
    if found is None:
        raise Http404
    item, rows = found
    numeric = [row for row in rows if row.value_num is not None]
    chart = (
        charts.trend(numeric, styles=charts.source_styles(records), second=item.key == "bp")
        if len(numeric) == len(rows)
        else None
    )
    return render(
        request,
        "records/checkup_trend.html",
        {"item": item, "rows": rows, "chart": chart, "latest": rows[-1]},
    )
