from django.urls import path

from accounts import views
from audit import views as audit_views

urlpatterns = [
    path("", views.account_home, name="account_home"),
    path("identity/", views.verify_identity, name="verify_identity"),
    path("activity/", audit_views.activity, name="activity"),
]
