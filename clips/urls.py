from django.urls import path

from . import api, views

urlpatterns = [
    path("c/<str:code>/", views.clip_page, name="clip"),
    path("c/<str:code>/audio.ogg", views.clip_audio, name="clip-audio"),
    path("c/<str:code>/delete/", views.clip_delete, name="clip-delete"),
]

api_urlpatterns = [
    path("spaces/<str:code>/clips/", api.SpaceClipsView.as_view(), name="api-space-clips"),
    path("clips/<str:code>/", api.ClipDetailView.as_view(), name="api-clip"),
]
