from django.urls import path, re_path

from . import tools, views

urlpatterns = [
    path("auth/token/", views.TokenView.as_view(), name="api-token"),
    path("spaces/", views.SpaceListCreateView.as_view(), name="api-spaces"),
    path("spaces/<str:code>/", views.SpaceDetailView.as_view(), name="api-space"),
    path("spaces/<str:code>/start/", views.SpaceLifecycleView.as_view(action="start"), name="api-space-start"),
    path("spaces/<str:code>/end/", views.SpaceLifecycleView.as_view(action="end"), name="api-space-end"),
    path("spaces/<str:code>/cancel/", views.SpaceLifecycleView.as_view(action="cancel"), name="api-space-cancel"),
    path("spaces/<str:code>/join/", views.JoinView.as_view(), name="api-space-join"),
    path("spaces/<str:code>/replay/", views.ReplayView.as_view(), name="api-space-replay"),
    path("spaces/<str:code>/media/", views.MediaView.as_view(), name="api-space-media"),
    path("spaces/<str:code>/leave/", views.LeaveView.as_view(), name="api-space-leave"),
    path("spaces/<str:code>/hand/", views.HandView.as_view(), name="api-space-hand"),
    path("spaces/<str:code>/participants/", views.ParticipantListView.as_view(), name="api-participants"),
    path(
        "spaces/<str:code>/participants/<str:uid>/",
        views.ParticipantDetailView.as_view(),
        name="api-participant",
    ),
    path(
        "spaces/<str:code>/participants/<str:uid>/remove/",
        views.ParticipantRemoveView.as_view(),
        name="api-participant-remove",
    ),
    path("spaces/<str:code>/mic/", tools.MicView.as_view(), name="api-space-mic"),
    path("spaces/<str:code>/mute-all/", tools.MuteAllView.as_view(), name="api-space-mute-all"),
    path("spaces/<str:code>/pin/", tools.PinView.as_view(), name="api-space-pin"),
    # Anything else under /api/ is a JSON 404, not Django's HTML page (see views.not_found).
    re_path(r"^.*$", views.not_found, name="api-not-found"),
]
