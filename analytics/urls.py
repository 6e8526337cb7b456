from django.urls import path

from . import api, views

urlpatterns = [
    path("dashboard/spaces/<str:code>/analytics/", views.space_analytics, name="space-analytics"),
    path("s/<str:code>/replay/", views.replay_play, name="replay-play"),
]

api_urlpatterns = [
    path("spaces/<str:code>/analytics/", api.SpaceAnalyticsView.as_view(), name="api-space-analytics"),
    path("spaces/<str:code>/analytics/csv/", api.SpaceAnalyticsCsvView.as_view(), name="api-space-analytics-csv"),
]
