from django.urls import path

from institutions import views

urlpatterns = [
    path("institutions/", views.directory, name="directory"),
    path("national/", views.national, name="national_data"),
    path("institutions/<uuid:code>/link/", views.link, name="link_institution"),
    path("sources/import/", views.import_file, name="import_file"),
    path("sources/<uuid:code>/", views.source_detail, name="source_detail"),
    path("sources/<uuid:code>/progress/", views.source_progress, name="source_progress"),
    path("sources/<uuid:code>/sync/", views.source_sync, name="source_sync"),
    path("sources/<uuid:code>/unlink/", views.source_unlink, name="source_unlink"),
]
