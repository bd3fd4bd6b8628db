from django.urls import path

from pages import views

urlpatterns = [
    path("dashboard/", views.dashboard, name="dashboard"),
    path("dashboard/sources/", views.dashboard_sources, name="dashboard_sources"),
    path("account/download/", views.download_all, name="download_all"),
    path("account/delete/", views.delete_account, name="delete_account"),
]
