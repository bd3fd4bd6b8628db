from django.urls import path

from records import checkup_views, vaccination_views, views

urlpatterns = [
    path("timeline/", views.timeline, name="timeline"),
    path("search/", views.search, name="search"),
    path("labs/", views.labs, name="labs"),
    path("labs/<str:code>/", views.lab_detail, name="lab_detail"),
    path("vitals/", views.vitals, name="vitals"),
    path("medications/", views.medications, name="medications"),
    path("vaccinations/", vaccination_views.vaccinations_page, name="vaccinations"),
    path("summary/", views.summary, name="summary"),
    path("checkups/", checkup_views.checkup_index, name="checkups"),
    path("checkups/<int:year>/", checkup_views.checkup_year, name="checkup_year"),
    path("checkups/trend/<str:code>/", checkup_views.checkup_trend, name="checkup_trend"),
    path("summary/fhir/", views.summary_document, name="summary_document"),
    path("export/fhir/", views.export_fhir, name="export_fhir"),
    path("c/<slug:category>/", views.category, name="category"),
    path("r/<uuid:code>/", views.record_detail, name="record_detail"),
]
