from .selectors import notifications_unread


def notifications(request):
    """Unread notifications, shown on every page until read."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"unread_notifications": list(notifications_unread(user=user)[:20])}
