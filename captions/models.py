"""Captions of a Space: whether they are on, who consented to be captioned, what was said."""

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from rooms.models import Space


class SpaceCaptions(models.Model):
    """Captions on or off for one Space (off when there is no row). The host or a co-host turns
    them on; only consenting speakers are ever captioned."""

    space = models.OneToOneField(Space, on_delete=models.CASCADE, related_name="captions")
    on = models.BooleanField(default=False)
    changed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    changed_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"Captions {'on' if self.on else 'off'} in {self.space.code}"


class CaptionConsent(models.Model):
    """A person agreed to have their speech captioned, once, for every Space they speak in;
    revoked by deleting the row."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="caption_consent")
    given_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"Caption consent of {self.user}"


class CaptionSegment(models.Model):
    """One utterance: who said it (consenting speakers talking during it), when (seconds since the
    Space started) and the words."""

    space = models.ForeignKey(Space, on_delete=models.CASCADE, related_name="caption_segments")
    speakers = models.JSONField(default=list)  # participant uids
    speaker_name = models.CharField(max_length=320)
    start = models.FloatField()
    end = models.FloatField()
    text = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["start", "id"]
        indexes = [models.Index(fields=["space", "start"], name="caption_space_start")]
        constraints = [
            models.CheckConstraint(condition=Q(start__gte=0) & Q(end__gte=F("start")), name="caption_times_ordered"),
        ]

    def __str__(self) -> str:
        return f"{self.speaker_name} {self.start:.1f}-{self.end:.1f}: {self.text[:40]}"
