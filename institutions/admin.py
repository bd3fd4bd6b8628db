import datetime as dt

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.db.models import Count, Exists, Max, OuterRef, Q, Subquery
from django.http import Http404, HttpResponseNotAllowed
from django.shortcuts import redirect, render
from django.urls import path
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from audit.admin import AuditedReadsAdmin
from institutions import domain
from institutions.directory_csv import import_directory
from institutions.fhir_client import UnsafeURL, check_url
from institutions.messages import render as render_message
from institutions.models import Institution, InstitutionStatus, RunStatus, RunTrigger, SyncRun

HEALTH_WINDOW = dt.timedelta(days=7)


class InstitutionForm(forms.ModelForm):
    fhir_base_url = forms.URLField(label=_("FHIR base URL"), required=False, assume_scheme="https")
    token_url = forms.URLField(label=_("OAuth2 token URL"), required=False, assume_scheme="https")
    client_secret = forms.CharField(
        label=_("OAuth2 client secret"),
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text=_("Stored encrypted. Leave empty to keep the current secret."),
    )

    class Meta:
        model = Institution
        fields = [
            "name",
            "name_en",
            "hira_number",
            "type_code",
            "kind",
            "region",
            "fhir_base_url",
            "token_url",
            "client_id",
            "client_secret",
            "max_concurrent_syncs",
        ]

    def clean_client_secret(self):
        return self.cleaned_data["client_secret"] or (
            self.instance.client_secret if self.instance.pk else ""
        )

    def clean(self):
        cleaned = super().clean()
        for key in ("fhir_base_url", "token_url"):
            if cleaned.get(key):
                try:
                    check_url(cleaned[key])
                except UnsafeURL as exc:
                    self.add_error(key, str(exc.message))
        return cleaned


class CSVImportForm(forms.Form):
    file = forms.FileField(label=_("Institution directory (CSV)"))


@admin.register(Institution)
class InstitutionAdmin(admin.ModelAdmin):
    form = InstitutionForm
    list_display = [
        "name",
        "hira_number",
        "type_code",
        "status",
        "connection",
        "last_success",
        "failure_rate",
        "last_error",
    ]
    list_filter = ["status", "kind", "type_code"]
    search_fields = ["name", "name_en", "hira_number"]
    readonly_fields = [
        "status",
        "fhir_version",
        "supports_everything",
        "resource_types",
        "tested_at",
        "test_ok",
        "test_message",
    ]
    actions = ["test_connections", "activate", "suspend", "retry_failed_syncs"]
    change_list_template = "admin/institutions/institution/change_list.html"
    change_form_template = "admin/institutions/institution/change_form.html"

    class Media:
        css = {"all": ["css/admin.css"]}  # sync-health columns that fit at 1366 and 1600 px

    def get_queryset(self, request):
        since = timezone.now() - HEALTH_WINDOW
        # The last error is the latest failure no later run of its source has made good: after
        # a successful retry the old error no longer shows (it still counts in the week's rate).
        made_good = SyncRun.objects.filter(
            source=OuterRef("source"),
            status=RunStatus.SUCCEEDED,
            finished_at__gt=OuterRef("finished_at"),
        )
        last_failure = (
            SyncRun.objects.filter(source__institution=OuterRef("pk"), status=RunStatus.FAILED)
            .exclude(Exists(made_good))
            .order_by("-finished_at")
        )
        return (
            super()
            .get_queryset(request)
            .annotate(
                _last_success=Max(
                    "sources__runs__finished_at",
                    filter=Q(sources__runs__status=RunStatus.SUCCEEDED),
                ),
                _runs=Count("sources__runs", filter=Q(sources__runs__created__gte=since)),
                _failed=Count(
                    "sources__runs",
                    filter=Q(
                        sources__runs__created__gte=since, sources__runs__status=RunStatus.FAILED
                    ),
                ),
                _last_error=Subquery(last_failure.values("error")[:1]),
                _last_error_message=Subquery(last_failure.values("error_message")[:1]),
            )
        )

    @admin.display(description=_("connection test"))
    def connection(self, obj):
        if obj.test_ok is None:
            return _("not tested")
        if obj.test_ok:
            # The list keeps it short (the whole result is on the institution's page).
            return format_html(
                '<span title="{}">✓ FHIR {}</span>', obj.test_summary, obj.fhir_version
            )
        return obj.test_summary

    @admin.display(description=_("test message"))
    def test_message(self, obj):
        # The stored result in the reader's language (the field holds the tester's words).
        return obj.test_summary

    @admin.display(description=_("last successful sync"), ordering="_last_success")
    def last_success(self, obj):
        if not obj._last_success:
            return "—"
        return date_format(timezone.localtime(obj._last_success), "SHORT_DATETIME_FORMAT")

    @admin.display(description=_("failed (7 days)"))
    def failure_rate(self, obj):
        if not obj._runs:
            return "—"
        return f"{obj._failed}/{obj._runs} ({obj._failed * 100 // obj._runs}%)"

    @admin.display(description=_("last error"))
    def last_error(self, obj):
        # In the operator's language (stored as msgid + parameters), the text of older rows.
        return render_message(obj._last_error_message, obj._last_error) or "—"

    @admin.action(description=_("Test the connection"))
    def test_connections(self, request, queryset):
        for institution in queryset:
            self._test_connection(request, institution)

    def _test_connection(self, request, institution):
        ok = domain.test_connection(institution=institution, request=request)
        self.message_user(
            request,
            f"{institution.name}: {institution.test_summary}",
            messages.SUCCESS if ok else messages.ERROR,
        )

    def test_connection_view(self, request, object_id):
        """The change page's "Test the connection" button: the bulk action, for this one."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        institution = self.get_object(request, unquote(object_id))
        if institution is None or not self.has_change_permission(request, institution):
            raise Http404
        self._test_connection(request, institution)
        return redirect("admin:institutions_institution_change", institution.pk)

    @admin.action(description=_("Activate (after a successful test)"))
    def activate(self, request, queryset):
        for institution in queryset:
            try:
                domain.set_status(
                    institution=institution, status=InstitutionStatus.ACTIVE, request=request
                )
            except domain.LinkError as exc:
                self.message_user(request, f"{institution.name}: {exc}", messages.ERROR)
            else:
                self.message_user(
                    request,
                    _("%(name)s is active: patients can link it.") % {"name": institution.name},
                    messages.SUCCESS,
                )

    @admin.action(description=_("Suspend"))
    def suspend(self, request, queryset):
        for institution in queryset:
            domain.set_status(
                institution=institution, status=InstitutionStatus.SUSPENDED, request=request
            )
            self.message_user(
                request,
                _("%(name)s is suspended: no new links or syncs.") % {"name": institution.name},
                messages.SUCCESS,
            )

    @admin.action(description=_("Retry the failed syncs"))
    def retry_failed_syncs(self, request, queryset):
        count = _retry_failed(SyncRun.objects.filter(source__institution__in=queryset), request)
        self.message_user(request, _queued_again(count), messages.SUCCESS)

    def get_urls(self):
        return [
            path(
                "import-csv/",
                self.admin_site.admin_view(self.import_csv),
                name="institutions_import_csv",
            ),
            path(
                "<path:object_id>/test-connection/",
                self.admin_site.admin_view(self.test_connection_view),
                name="institutions_institution_test_connection",
            ),
            *super().get_urls(),
        ]

    def import_csv(self, request):
        form = CSVImportForm(*([request.POST, request.FILES] if request.method == "POST" else []))
        result = None
        if request.method == "POST" and form.is_valid():
            result = import_directory(form.cleaned_data["file"].read())
            if result.ok:
                self.message_user(
                    request,
                    _("Imported: %(created)d new, %(updated)d updated, %(unchanged)d unchanged.")
                    % {
                        "created": result.created,
                        "updated": result.updated,
                        "unchanged": result.unchanged,
                    },
                    messages.SUCCESS,
                )
                return redirect("admin:institutions_institution_changelist")
        context = {
            **self.admin_site.each_context(request),
            "form": form,
            "result": result,
            "title": _("Import the institution directory"),
            "opts": self.model._meta,
        }
        return render(request, "admin/institutions/institution/import_csv.html", context)


def _queued_again(count: int) -> str:
    return ngettext("%(count)d sync queued again.", "%(count)d syncs queued again.", count) % {
        "count": count
    }


def _retry_failed(runs, request) -> int:
    """Queue a new run for each source whose latest run failed (one per source)."""
    count = 0
    failed_sources = {
        run.source for run in runs.filter(status=RunStatus.FAILED).select_related("source")
    }
    for source in failed_sources:
        if source.status == "active" and source.runs.first().status == RunStatus.FAILED:
            domain.trigger_sync(source=source, request=request, trigger=RunTrigger.OPERATOR)
            count += 1
    return count


@admin.register(SyncRun)
class SyncRunAdmin(AuditedReadsAdmin):
    """Sync health: operators see states, counts and errors — never the records themselves."""

    patient_path = "source.patient_id"

    class Media:
        css = {"all": ["css/admin.css"]}  # the error column wraps instead of being cut off

    list_display = [
        "created",
        "institution",
        "status",
        "reason",  # next to the status: why a run failed is what an operator looks for
        "trigger",
        "fetched",
        "created_count",
        "updated",
        "invalid",
        "restarts",
    ]
    list_filter = ["status", "trigger", "source__institution"]
    list_select_related = ["source__institution"]
    fields = [*list_display[1:], "started_at", "finished_at", "total", "unchanged"]
    readonly_fields = fields
    actions = ["retry"]
    show_full_result_count = False

    @admin.display(description=_("institution"))
    def institution(self, obj):
        return obj.source.display_name

    @admin.display(description=_("error"))
    def reason(self, obj):
        return obj.reason

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description=_("Retry (a new run for each failed source)"))
    def retry(self, request, queryset):
        count = _retry_failed(queryset, request)
        self.message_user(request, _queued_again(count), messages.SUCCESS)
