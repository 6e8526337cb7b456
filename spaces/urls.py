from django.contrib import admin
from django.urls import include, path
from django.conf import settings
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from analytics import urls as analytics_urls
from captions import urls as captions_urls
from clips import urls as clips_urls
from rooms.janus_events import janus_events
from rooms.views import media_file
from scheduling import pages as scheduling_pages
from scheduling.views import PushSettingsView, PushSubscriptionView, PushUnsubscribeView, ReminderView
from spaces.health import healthz
from spaces.metrics import metrics

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("api/push/", PushSettingsView.as_view(), name="api-push"),
    path("api/push/subscriptions/", PushSubscriptionView.as_view(), name="api-push-subscriptions"),
    path("api/push/subscriptions/remove/", PushUnsubscribeView.as_view(), name="api-push-unsubscribe"),
    path("api/notifications/", include("scheduling.urls")),
    path("api/spaces/<str:code>/reminder/", ReminderView.as_view(), name="api-space-reminder"),
    path("api/", include(clips_urls.api_urlpatterns)),
    path("api/", include(analytics_urls.api_urlpatterns)),
    path("api/", include(captions_urls.api_urlpatterns)),
    path("api/", include("rooms.api.urls")),
    path("media/janus-events/", janus_events, name="janus-events"),
    path("healthz", healthz, name="healthz"),
    path("metrics", metrics, name="metrics"),
    path("dashboard/notifications/read/", scheduling_pages.notifications_read, name="notifications-read"),
    path("accounts/", include("accounts.urls")),
    path("", include(clips_urls.urlpatterns)),
    path("", include(analytics_urls.urlpatterns)),
    path("", include(captions_urls.urlpatterns)),
    path("", include("rooms.urls")),
]

if settings.DEBUG:
    # Replays in a local run; production serves MEDIA_ROOT from the web server.
    urlpatterns.append(path("media/<path:path>", media_file))
