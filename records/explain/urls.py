from django.urls import path

from records.explain import views

urlpatterns = [
    path("visit/<uuid:code>/", views.visit, name="visit_summary"),
    path("glance/", views.glance, name="glance"),
    path("digest/", views.digest, name="digest"),
    path("digest/seen/", views.digest_seen, name="digest_seen"),
]
