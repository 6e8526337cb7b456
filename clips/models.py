"""A clip: a short excerpt of a Space's recorded mix, encoded as Ogg Opus, with its own link."""

import secrets

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse

from rooms.models import Space


def new_clip_code() -> str:
    # 72 random bits, as a Space's share code: a clip's link cannot be guessed from another's.
    return secrets.token_urlsafe(9)


class Clip(models.Model):
    class State(models.TextChoices):
        PENDING = "pending", "Being prepared"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"

    code = models.CharField(max_length=16, unique=True, default=new_clip_code, editable=False)
    space = models.ForeignKey(Space, on_delete=models.CASCADE, related_name="clips")
    # Who made it: an account, or a signed-out listener known only by their session's random id.
    creator = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="clips"
    )
    creator_anon = models.CharField(max_length=32, blank=True, editable=False)
    creator_name = models.CharField(max_length=150)
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    # Bytes of audio the recording held when the clip was asked for: where the clip ends, so a
    # worker that runs late still cuts the 30 seconds the person heard.
    recording_end = models.PositiveBigIntegerField(editable=False)
    # Where the clip starts in the recording, and how long it is (seconds), known once encoded.
    offset = models.FloatField(default=0, editable=False)
    seconds = models.FloatField(default=0, editable=False)
    file = models.CharField(max_length=255, blank=True, editable=False)  # under MEDIA_ROOT
    plays = models.PositiveIntegerField(default=0, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["space", "state"], name="clip_space_state")]
        constraints = [
            models.CheckConstraint(condition=~Q(state="ready") | ~Q(file=""), name="ready_clip_has_file"),
        ]

    def __str__(self) -> str:
        return f"Clip {self.code} of {self.space.code}"

    def get_absolute_url(self) -> str:
        return reverse("clip", kwargs={"code": self.code})

    @property
    def audio_path(self) -> str:
        return reverse("clip-audio", kwargs={"code": self.code})

    @property
    def is_ready(self) -> bool:
        return self.state == self.State.READY
