from django.urls import path

from . import views

urlpatterns = [
    path("", views.NotificationListView.as_view(), name="api-notifications"),
    path("read/", views.NotificationReadAllView.as_view(), name="api-notifications-read"),
    path("<int:notification_id>/read/", views.NotificationReadView.as_view(), name="api-notification-read"),
]
