"""The calendar side: reminders people set on scheduled Spaces, the notifications sent shortly
before and when a Space starts (in the app, by email and by Web Push), and the browsers people
asked to be notified in."""

from django.conf import settings
from django.db import models
from django.db.models import Q

from rooms.models import Space


class Reminder(models.Model):
    space = models.ForeignKey(Space, on_delete=models.CASCADE, related_name="reminders")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="reminders")
    created_at = models.DateTimeField(auto_now_add=True)
    # Set once the "starts soon" reminder went out, and once the "live now" one did: each exactly
    # once per person.
    soon_sent_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["space", "user"], name="one_reminder_per_person"),
        ]
        indexes = [
            models.Index(fields=["space"], condition=Q(sent_at__isnull=True), name="reminder_unsent"),
        ]

    def __str__(self) -> str:
        return f"Reminder for {self.user} on {self.space.code}"


class Notification(models.Model):
    class Kind(models.TextChoices):
        SPACE_SOON = "space_soon", "A Space you follow starts soon"
        SPACE_STARTED = "space_started", "A Space you follow started"
        YOUR_SPACE_LIVE = "your_space_live", "Your Space is live"
        SPACE_MISSED = "space_missed", "Your Space missed its start"
        SPACE_ENDED = "space_ended", "Your Space ended"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    space = models.ForeignKey(Space, on_delete=models.CASCADE, related_name="notifications")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    message = models.CharField(max_length=300)
    created_at = models.DateTimeField(auto_now_add=True)
    read_at = models.DateTimeField(null=True, blank=True)
    # Set when the email copy went out; null for a person without an address (nothing to send).
    emailed_at = models.DateTimeField(null=True, blank=True)
    # Web Push: the subscriptions this went to (ids), and when it had gone to every one.
    pushed_to = models.JSONField(default=list, blank=True)
    pushed_at = models.DateTimeField(null=True, blank=True)
    # Set when what it says stopped being true ("is live now" once the Space ended): it is read,
    # no longer listed, and no email or push of it goes out any more.
    obsolete_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            # A person is told of one Space's one happening once.
            models.UniqueConstraint(fields=["user", "space", "kind"], name="one_notification_per_kind"),
        ]
        indexes = [
            models.Index(fields=["user"], condition=Q(read_at__isnull=True), name="notification_unread"),
            models.Index(fields=["created_at"], condition=Q(emailed_at__isnull=True), name="notification_unemailed"),
            models.Index(fields=["created_at"], condition=Q(pushed_at__isnull=True), name="notification_unpushed"),
        ]

    def __str__(self) -> str:
        return self.message


class PushSubscription(models.Model):
    """A browser that agreed to show this person's notifications (the Push API's
    PushSubscription): where to post them, and the keys to encrypt them for it (RFC 8291)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="push_subscriptions"
    )
    endpoint = models.URLField(max_length=1000, unique=True)
    p256dh = models.CharField(max_length=100)
    auth = models.CharField(max_length=40)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["pk"]

    def __str__(self) -> str:
        return f"Push subscription of {self.user}"

    @property
    def info(self) -> dict:
        """The subscription as pywebpush (and the browser's toJSON()) spells it."""
        return {"endpoint": self.endpoint, "keys": {"p256dh": self.p256dh, "auth": self.auth}}
