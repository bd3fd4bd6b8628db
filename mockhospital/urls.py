from django.urls import path

from mockhospital import views

app_name = "mockhospital"
urlpatterns = [
    path("", views.index, name="index"),
    path("<slug:slug>/token", views.token, name="token"),
    path("<slug:slug>/fhir/metadata", views.metadata, name="metadata"),
    path("<slug:slug>/fhir/Patient", views.patient_search, name="patient-search"),
    path("<slug:slug>/fhir/Patient/<str:patient_id>", views.patient_read, name="patient-read"),
    path(
        "<slug:slug>/fhir/Patient/<str:patient_id>/$everything",
        views.everything,
        name="everything",
    ),
    path("<slug:slug>/fhir/<str:resource_type>", views.type_search, name="type-search"),
]
