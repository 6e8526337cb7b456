"""A Space and the people in it.

The rules the database can hold live here as constraints (one scheduled and one live Space per
host, the 14-day window, title not empty); the rules that need counting under a lock (speaker and
co-host limits) live in ``rooms.services``.
"""

import secrets
from datetime import timedelta


from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.urls import reverse

from .limits import DESCRIPTION_MAX, PIN_LABEL_MAX, PIN_URL_MAX, SCHEDULE_AHEAD_MAX, TITLE_MAX


def new_share_code() -> str:
    # 9 random bytes -> 12 URL-safe characters, 72 bits: not guessable, not sequential.
    return secrets.token_urlsafe(9)


def new_participant_uid() -> str:
    return secrets.token_urlsafe(9)


class Space(models.Model):
    class State(models.TextChoices):
        SCHEDULED = "scheduled", "Scheduled"
        LIVE = "live", "Live"
        ENDED = "ended", "Ended"
        CANCELLED = "cancelled", "Cancelled"
        MISSED = "missed", "Missed"

    class StartedBy(models.TextChoices):
        HOST = "host", "Host"
        SCHEDULE = "schedule", "Schedule"

    code = models.CharField(max_length=16, unique=True, default=new_share_code, editable=False)
    host = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="hosted_spaces"
    )
    title = models.CharField(max_length=TITLE_MAX)
    description = models.CharField(max_length=DESCRIPTION_MAX, blank=True)
    state = models.CharField(max_length=10, choices=State.choices, db_index=True)
    record = models.BooleanField(default=False, help_text="Record the mix for a replay.")

    scheduled_for = models.DateTimeField(null=True, blank=True)
    # The moment scheduled_for was set: the 14-day window is measured from here.
    scheduled_on = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    started_by = models.CharField(max_length=10, choices=StartedBy.choices, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    # Real-time: every published event takes the next number, inside the writing transaction.
    event_seq = models.PositiveBigIntegerField(default=0, editable=False)
    peak_listeners = models.PositiveIntegerField(default=0, editable=False)
    # Different people who listened at some point, counted in Redis while live, written at the end.
    unique_listeners = models.PositiveIntegerField(default=0, editable=False)

    # The recording of the mix, kept as a replay (a path under MEDIA_ROOT) until it expires.
    replay = models.CharField(max_length=255, blank=True, editable=False)
    replay_expires_at = models.DateTimeField(null=True, blank=True, editable=False)

    # Media: the Janus node and room (AudioBridge room id = Streaming mountpoint id), a random id
    # given when the Space goes live so nobody can guess another Space's room; the PIN listeners
    # present to watch its mountpoint (changed when a listener is removed or blocked).
    media_node = models.CharField(max_length=64, blank=True, editable=False)
    media_room_id = models.PositiveBigIntegerField(null=True, blank=True, editable=False)
    media_pin = models.CharField(max_length=32, blank=True, editable=False)

    # A link the host or a co-host pinned for everyone in the room (rooms.services.pins); empty: none.
    pinned_url = models.CharField(max_length=PIN_URL_MAX, blank=True, editable=False)
    pinned_label = models.CharField(max_length=PIN_LABEL_MAX, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["state", "scheduled_for"], name="space_state_due"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["media_room_id"], condition=Q(media_room_id__isnull=False), name="one_space_per_media_room"
            ),
            models.UniqueConstraint(
                fields=["host"],
                condition=Q(state="scheduled"),
                name="one_scheduled_space_per_host",
                violation_error_message="You already have a scheduled Space.",
            ),
            models.UniqueConstraint(
                fields=["host"],
                condition=Q(state="live"),
                name="one_live_space_per_host",
                violation_error_message="You already have a live Space.",
            ),
            models.CheckConstraint(
                condition=Q(scheduled_for__isnull=True)
                | (
                    Q(scheduled_on__isnull=False)
                    & Q(scheduled_for__gt=F("scheduled_on"))
                    & Q(scheduled_for__lte=F("scheduled_on") + SCHEDULE_AHEAD_MAX)
                ),
                name="scheduled_within_14_days",
                violation_error_message=f"A Space is scheduled in the future, at most {SCHEDULE_AHEAD_MAX.days} days ahead.",
            ),
            models.CheckConstraint(
                condition=~Q(state="scheduled") | Q(scheduled_for__isnull=False),
                name="scheduled_space_has_time",
            ),
            models.CheckConstraint(condition=~Q(title=""), name="space_title_not_empty"),
        ]

    def __str__(self) -> str:
        return f"{self.title} ({self.code})"

    def get_absolute_url(self) -> str:
        return reverse("share", kwargs={"code": self.code})

    @property
    def share_url(self) -> str:
        return f"{settings.SITE_URL}{self.get_absolute_url()}"

    @property
    def replay_url(self) -> str:
        return f"{settings.MEDIA_URL}{self.replay}" if self.replay else ""

    @property
    def is_live(self) -> bool:
        return self.state == self.State.LIVE

    @property
    def duration(self) -> timedelta | None:
        if self.started_at and self.ended_at:
            return self.ended_at - self.started_at
        return None


class ParticipantQuerySet(models.QuerySet):
    def present(self):
        return self.filter(left_at__isnull=True, removed_at__isnull=True)

    def named(self):
        """People who may be named to others: everyone but quiet listeners."""
        return self.filter(quiet=False)

    def on_stage(self):
        """Host, co-hosts and speakers, present or briefly away: they keep their seat."""
        return self.filter(role__in=Participant.SPEAKING_ROLES, removed_at__isnull=True)


class Participant(models.Model):
    """A person in a Space: signed in (``user``) or a signed-out listener (``anon_id``)."""

    class Role(models.TextChoices):
        HOST = "host", "Host"
        COHOST = "cohost", "Co-host"
        SPEAKER = "speaker", "Speaker"
        LISTENER = "listener", "Listener"

    SPEAKING_ROLES = (Role.HOST, Role.COHOST, Role.SPEAKER)
    STAFF_ROLES = (Role.HOST, Role.COHOST)

    # The id the API and pages use; never the sequential primary key.
    uid = models.CharField(max_length=16, unique=True, default=new_participant_uid, editable=False)
    space = models.ForeignKey(Space, on_delete=models.CASCADE, related_name="participants")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="participations",
    )
    # A signed-out listener is known by a random id kept in their session.
    anon_id = models.CharField(max_length=32, blank=True)
    display_name = models.CharField(max_length=150)
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.LISTENER)
    muted = models.BooleanField(default=False)
    # The speaker muted their own microphone: shown to everyone, theirs to lift (``muted`` is the host's).
    self_muted = models.BooleanField(default=False)
    # "Listen quietly": counted as a listener, never named to anyone.
    quiet = models.BooleanField(default=False)
    hand_raised_at = models.DateTimeField(null=True, blank=True)
    joined_at = models.DateTimeField(auto_now_add=True)
    # Present while left_at is null.
    left_at = models.DateTimeField(null=True, blank=True)
    removed_at = models.DateTimeField(null=True, blank=True)
    blocked = models.BooleanField(default=False)
    # A signed-out listener's address when they joined: blocking them keeps it out of the Space.
    address = models.GenericIPAddressField(null=True, blank=True, editable=False)
    # While on stage: the secret this person presents to the media server's AudioBridge, and the
    # id the server assigned them in its mix (anyone in the mix under another id is put out).
    media_token = models.CharField(max_length=64, blank=True, editable=False)
    media_id = models.PositiveBigIntegerField(null=True, blank=True, editable=False)

    objects = ParticipantQuerySet.as_manager()

    class Meta:
        ordering = ["joined_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["space", "user"],
                condition=Q(user__isnull=False),
                name="one_participant_per_user",
            ),
            models.UniqueConstraint(
                fields=["space", "anon_id"],
                condition=Q(user__isnull=True),
                name="one_participant_per_anonymous_listener",
            ),
            models.UniqueConstraint(
                fields=["space"], condition=Q(role="host"), name="one_host_per_space"
            ),
            models.UniqueConstraint(
                fields=["space", "media_id"], condition=Q(media_id__isnull=False), name="one_media_id_per_seat"
            ),
            models.CheckConstraint(
                condition=Q(user__isnull=False) | ~Q(anon_id=""),
                name="participant_is_someone",
            ),
            models.CheckConstraint(
                condition=Q(user__isnull=False) | Q(role="listener"),
                name="anonymous_participants_only_listen",
            ),
        ]
        indexes = [models.Index(fields=["space", "left_at"], name="participant_presence")]

    def __str__(self) -> str:
        return f"{self.display_name} ({self.get_role_display()}) in {self.space.code}"

    @property
    def is_present(self) -> bool:
        return self.left_at is None and self.removed_at is None

    @property
    def is_speaking_role(self) -> bool:
        return self.role in self.SPEAKING_ROLES

    @property
    def is_staff_role(self) -> bool:
        return self.role in self.STAFF_ROLES
