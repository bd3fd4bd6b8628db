from django.urls import path

from sharing import caregivers_views, family_views, recipient, views

urlpatterns = [
    path("family/children/", family_views.children, name="family_children"),
    path("shares/", views.share_list, name="share_list"),
    path("shares/new/", views.share_new, name="share_new"),
    path("shares/<uuid:code>/", views.share_detail, name="share_detail"),
    path("shares/<uuid:code>/revoke/", views.share_revoke, name="share_revoke"),
    path("shares/<uuid:code>/reissue/", views.share_reissue, name="share_reissue"),
    path("shares/<uuid:code>/preview/", views.share_preview, name="share_preview"),
    # Caregivers: the patient's own pages, and the invitee's acceptance (sharing.caregivers).
    path("family/caregivers/", caregivers_views.caregiver_list, name="caregiver_list"),
    path("family/caregivers/invite/", caregivers_views.caregiver_invite, name="caregiver_invite"),
    path(
        "family/caregivers/<uuid:code>/", caregivers_views.caregiver_detail, name="caregiver_detail"
    ),
    path(
        "family/caregivers/<uuid:code>/revoke/",
        caregivers_views.caregiver_revoke,
        name="caregiver_revoke",
    ),
    path(
        "family/caregivers/<uuid:code>/renew/",
        caregivers_views.caregiver_renew,
        name="caregiver_renew",
    ),
    path("family/acting/", caregivers_views.acting_activity, name="acting_activity"),
    path(
        "family/invitations/<str:token>/",
        caregivers_views.caregiver_accept,
        name="caregiver_accept",
    ),
    path("s/<str:token>/", recipient.share_entry, name="share_entry"),
    path("s/<str:token>/c/<slug:category>/", recipient.share_category, name="share_category"),
    path("s/<str:token>/download/", recipient.share_download, name="share_download"),
    path("s/<str:token>/labs/<str:code>/", recipient.share_lab, name="share_lab"),
    path("s/<str:token>/r/<uuid:code>/", recipient.share_record, name="share_record"),
    path("shl/file/<str:location>", recipient.shl_file, name="shl_file"),
    path("shl/<str:manifest_id>", recipient.shl_manifest, name="shl_manifest"),
]
