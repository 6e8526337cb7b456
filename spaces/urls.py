from django.contrib import admin
from django.urls import include, path
from django.conf import settings
from django.views.static import serve
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from rooms.janus_events import janus_events
from scheduling import pages as scheduling_pages
from scheduling.views import ReminderView
from spaces.health import healthz
from spaces.metrics import metrics

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("api/notifications/", include("scheduling.urls")),
    path("api/spaces/<str:code>/reminder/", ReminderView.as_view(), name="api-space-reminder"),
    path("api/", include("rooms.api.urls")),
    path("media/janus-events/", janus_events, name="janus-events"),
    path("healthz", healthz, name="healthz"),
    path("metrics", metrics, name="metrics"),
    path("dashboard/notifications/read/", scheduling_pages.notifications_read, name="notifications-read"),
    path("", include("rooms.urls")),
]

if settings.DEBUG:
    # Replays in a local run; production serves MEDIA_ROOT from the web server.
    urlpatterns.append(path("media/<path:path>", serve, {"document_root": settings.MEDIA_ROOT}))
