from django.urls import path

from sharing import family_views, recipient, views

urlpatterns = [
    path("family/children/", family_views.children, name="family_children"),
    path("shares/", views.share_list, name="share_list"),
    path("shares/new/", views.share_new, name="share_new"),
    path("shares/<uuid:code>/", views.share_detail, name="share_detail"),
    path("shares/<uuid:code>/revoke/", views.share_revoke, name="share_revoke"),
    path("shares/<uuid:code>/reissue/", views.share_reissue, name="share_reissue"),
    path("shares/<uuid:code>/preview/", views.share_preview, name="share_preview"),
    path("s/<str:token>/", recipient.share_entry, name="share_entry"),
    path("s/<str:token>/c/<slug:category>/", recipient.share_category, name="share_category"),
    path("s/<str:token>/download/", recipient.share_download, name="share_download"),
    path("s/<str:token>/labs/<str:code>/", recipient.share_lab, name="share_lab"),
    path("s/<str:token>/r/<uuid:code>/", recipient.share_record, name="share_record"),
    path("shl/file/<str:location>", recipient.shl_file, name="shl_file"),
    path("shl/<str:manifest_id>", recipient.shl_manifest, name="shl_manifest"),
]
