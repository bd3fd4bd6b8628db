from allauth.account.decorators import secure_admin_login
from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import SimpleRouter

from accounts import api as accounts_api
from audit import api as audit_api
from institutions import api as institutions_api
from phr import views
from records import api as records_api
from sharing import api as sharing_api

# The admin's own login form would bypass allauth's rate limits and MFA: send it to allauth.
admin.site.login = secure_admin_login(admin.site.login)
admin.site.site_header = "PHR"

router = SimpleRouter()
router.register("institutions", institutions_api.InstitutionViewSet, basename="api-institution")
router.register("sources", institutions_api.SourceViewSet, basename="api-source")
router.register("sync-runs", institutions_api.SyncRunViewSet, basename="api-sync-run")
router.register("shares", sharing_api.ShareViewSet, basename="api-share")

api_v1 = [
    path("me/", accounts_api.me, name="api-me"),
    path("imports/", institutions_api.ImportView.as_view(), name="api-import"),
    path("records/", records_api.RecordList.as_view(), name="api-records"),
    path("records/<uuid:id>/", records_api.RecordDetail.as_view(), name="api-record"),
    path("labs/", records_api.labs, name="api-labs"),
    path("labs/<str:code>/series/", records_api.lab_series, name="api-lab-series"),
    path("summary/", records_api.summary, name="api-summary"),
    path("export/fhir/", records_api.export_fhir, name="api-export-fhir"),
    path("audit-events/", audit_api.AuditEventList.as_view(), name="api-audit-events"),
    *router.urls,
]

urlpatterns = [
    path("", views.landing, name="landing"),
    path("healthz", views.healthz, name="healthz"),
    path("", include("pages.urls")),
    path("records/explain/", include("records.explain.urls")),
    path("records/", include("records.urls")),
    path("account/", include("accounts.urls")),
    path("notifications/", include("notifications.urls")),
    path("", include("institutions.urls")),
    path("", include("sharing.urls")),
    path("accounts/", include("allauth.urls")),
    path("_allauth/", include("allauth.headless.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
]

if settings.PHR_MOCK_HOSPITALS:
    # Stand-ins for hospitals' FHIR servers: development, demo and tests only.
    urlpatterns.append(path("mock/", include("mockhospital.urls")))
