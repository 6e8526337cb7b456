"""Admin for staff: reminders and notifications are looked at here, never edited. They are
written only by the scheduling services (a person sets a reminder; a start, a missed start or an
abandoned Space notifies), which keep them exactly once per person."""

from django.contrib import admin

from .models import Notification, PushSubscription, Reminder


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Reminder)
class ReminderAdmin(ReadOnlyAdmin):
    list_display = ["user", "space", "created_at", "soon_sent_at", "sent_at"]
    list_filter = [("sent_at", admin.EmptyFieldListFilter)]
    search_fields = ["user__username", "user__email", "space__code", "space__title"]
    list_select_related = ["user", "space"]
    date_hierarchy = "created_at"


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdmin):
    list_display = ["message", "user", "kind", "space", "created_at", "read_at", "emailed_at", "pushed_at", "obsolete_at"]
    list_filter = [
        "kind",
        ("read_at", admin.EmptyFieldListFilter),
        ("emailed_at", admin.EmptyFieldListFilter),
        ("pushed_at", admin.EmptyFieldListFilter),
        ("obsolete_at", admin.EmptyFieldListFilter),
    ]
    search_fields = ["message", "user__username", "user__email", "space__code", "space__title"]
    list_select_related = ["user", "space"]
    date_hierarchy = "created_at"


@admin.register(PushSubscription)
class PushSubscriptionAdmin(ReadOnlyAdmin):
    """Browsers people get notifications in; deleting one here stops pushes to it."""

    list_display = ["user", "endpoint", "created_at"]
    search_fields = ["user__username", "user__email", "endpoint"]
    list_select_related = ["user"]

    def has_delete_permission(self, request, obj=None):
        return True
