from django.urls import path

from notifications import views

urlpatterns = [
    path("", views.notification_list, name="notifications"),
    path("read/", views.mark_read, name="notifications_read"),
    path("bell/", views.bell, name="notifications_bell"),
    path("settings/", views.preferences, name="notification_preferences"),
]
