"""What host analytics keep: a listener count every few seconds, counters, and who was on stage."""

from django.db import models

from rooms.models import Participant, Space


class ListenerSample(models.Model):
    """How many listened at one moment of a live Space (``analytics.services.listeners_sample``),
    and how many reactions it had had by then."""

    space = models.ForeignKey(Space, on_delete=models.CASCADE, related_name="listener_samples")
    at = models.DateTimeField()
    listeners = models.PositiveIntegerField()
    reactions = models.PositiveBigIntegerField(default=0)

    class Meta:
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["space", "at"], name="sample_space_at")]


class SpaceTally(models.Model):
    """A Space's counters that outlive it: reactions (from Redis, when it ends) and replay plays."""

    space = models.OneToOneField(Space, on_delete=models.CASCADE, primary_key=True, related_name="tally")
    reactions = models.PositiveBigIntegerField(default=0)
    replay_plays = models.PositiveIntegerField(default=0)


class StageAppearance(models.Model):
    """Someone was seen on stage (host, co-host or speaker) in a Space: counted once each."""

    space = models.ForeignKey(Space, on_delete=models.CASCADE, related_name="stage_appearances")
    participant = models.ForeignKey(Participant, on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["space", "participant"], name="one_appearance_per_person")]
