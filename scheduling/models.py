"""The calendar side: reminders people set on scheduled Spaces, and the in-app notifications
sent when a Space starts."""

from django.conf import settings
from django.db import models
from django.db.models import Q

from rooms.models import Space


class Reminder(models.Model):
    space = models.ForeignKey(Space, on_delete=models.CASCADE, related_name="reminders")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="reminders")
    created_at = models.DateTimeField(auto_now_add=True)
    # Set once the reminder went out: exactly once per person.
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

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            # A person is told of one Space's one happening once.
            models.UniqueConstraint(fields=["user", "space", "kind"], name="one_notification_per_kind"),
        ]
        indexes = [
            models.Index(fields=["user"], condition=Q(read_at__isnull=True), name="notification_unread"),
            models.Index(fields=["created_at"], condition=Q(emailed_at__isnull=True), name="notification_unemailed"),
        ]

    def __str__(self) -> str:
        return self.message
