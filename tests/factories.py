from datetime import timedelta

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from rooms.models import Participant, Space


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"person{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.PostGenerationMethodCall("set_password", "correct horse battery")

    @factory.post_generation
    def saved(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class SpaceFactory(factory.django.DjangoModelFactory):
    """A Space in a given state, written straight to the database: for setting up tests only."""

    class Meta:
        model = Space

    host = factory.SubFactory(UserFactory)
    title = factory.Sequence(lambda n: f"Space number {n}")
    state = Space.State.LIVE
    started_at = factory.LazyFunction(timezone.now)

    class Params:
        scheduled = factory.Trait(
            state=Space.State.SCHEDULED,
            started_at=None,
            scheduled_on=factory.LazyFunction(timezone.now),
            scheduled_for=factory.LazyFunction(lambda: timezone.now() + timedelta(hours=1)),
        )


class ParticipantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Participant

    space = factory.SubFactory(SpaceFactory)
    user = factory.SubFactory(UserFactory)
    display_name = factory.LazyAttribute(lambda p: p.user.username if p.user else "Listener 1000")
    role = Participant.Role.LISTENER
