from django.urls import path

from . import api, views

urlpatterns = [
    path("s/<str:code>/captions.vtt", views.transcript_vtt, name="captions-vtt"),
]

api_urlpatterns = [
    path("spaces/<str:code>/captions/", api.SpaceCaptionsView.as_view(), name="api-space-captions"),
    path("spaces/<str:code>/captions/consent/", api.CaptionsConsentView.as_view(), name="api-captions-consent"),
    path("spaces/<str:code>/transcript/", api.TranscriptView.as_view(), name="api-space-transcript"),
]
