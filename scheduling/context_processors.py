from django.utils.functional import SimpleLazyObject

from .selectors import notifications_for, notifications_unread


def notifications(request):
    """Unread notifications, shown on every page until read, and the recent ones (read only by
    the pages that show them: the dashboard)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {
        "unread_notifications": list(notifications_unread(user=user)[:20]),
        "notifications": SimpleLazyObject(lambda: list(notifications_for(user=user)[:20])),
    }
