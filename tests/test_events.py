"""The exact events each service publishes: their types in order, their sequence numbers, who
they go to and what they carry. Every service that publishes has a test here, so an event cannot
silently disappear, be added or change its shape; a refused or rolled-back change publishes
nothing. Frames are read as they leave (``rooms.publisher.capture``), after commit."""

from contextlib import contextmanager
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from captions import services as captions_services
from rooms import batches, errors, publisher, services
from rooms.events import EVENT_TYPES
from rooms.identity import Visitor
from rooms.models import Participant, Space
from rooms.wire import SpaceSerializer, participant_wire, space_wire

from .factories import SpaceFactory, UserFactory

pytestmark = pytest.mark.django_db

Role = Participant.Role

PARTICIPANT_KEYS = {"id", "name", "role", "muted", "self_muted", "signed_in", "present", "hand_raised", "joined_at"}
SPACE_KEYS = set(SpaceSerializer.Meta.fields)
FRAME_KEYS = {"group", "audience", "type", "seq", "at", "data"}


@pytest.fixture
def published(django_capture_on_commit_callbacks):
    """A block run as a request runs: its on-commit callbacks run as it ends. Yields the frames
    sent meanwhile, as they left for the Space's sockets."""

    @contextmanager
    def watch():
        with publisher.capture() as frames, django_capture_on_commit_callbacks(execute=True):
            yield frames

    return watch


@pytest.fixture
def space(host):
    return services.space_create(host=host, title="Morning show")


def summary(frames: list[dict]) -> list[tuple]:
    """Each frame's type, seq and audience, in the order sent."""
    return [(f["type"], f["seq"], f["audience"]) for f in frames]


def seq_of(space: Space) -> int:
    return Space.objects.values_list("event_seq", flat=True).get(pk=space.pk)


def fresh(obj):
    return type(obj).objects.get(pk=obj.pk)


def join(space: Space, user=None, **kwargs) -> Participant:
    return services.space_join(space=space, visitor=Visitor.of(user or UserFactory()), **kwargs)


def seated(space: Space, host, role: str = Role.SPEAKER) -> Participant:
    return services.participant_set_role(space=space, actor=host, participant=join(space), role=role)


def overdue(host, minutes: float) -> Space:
    when = timezone.now() - timedelta(minutes=minutes)
    return SpaceFactory(host=host, scheduled=True, scheduled_for=when, scheduled_on=when - timedelta(days=1))


def in_hours(hours: float):
    return timezone.now() + timedelta(hours=hours)


class TestLifecycle:
    def test_creating_a_live_space_publishes_space_started_with_the_space(self, host, published):
        with published() as frames:
            space = services.space_create(host=host, title="Live now")
        assert summary(frames) == [("space.started", 1, "everyone")]
        assert frames[0]["group"] == f"space.{space.pk}"
        assert frames[0]["data"] == space_wire(fresh(space))
        assert frames[0]["data"]["state"] == "live"
        assert [p["role"] for p in frames[0]["data"]["speakers"]] == ["host"]

    def test_scheduling_a_space_publishes_nothing(self, host, published):
        with published() as frames:
            space = services.space_create(host=host, title="Later", scheduled_for=in_hours(2))
        assert frames == []
        assert seq_of(space) == 0

    def test_editing_publishes_space_updated_with_the_new_title(self, host, space, published):
        with published() as frames:
            services.space_update(space=space, actor=host, title="Evening show", description="Now later")
        assert summary(frames) == [("space.updated", 2, "everyone")]
        assert frames[0]["data"] == space_wire(fresh(space))
        assert (frames[0]["data"]["title"], frames[0]["data"]["description"]) == ("Evening show", "Now later")

    def test_an_edit_that_changes_nothing_publishes_nothing(self, host, space, published):
        with published() as frames:
            services.space_update(space=space, actor=host, title="Morning show", description="")
        assert frames == []
        assert seq_of(space) == 1

    def test_rescheduling_publishes_space_updated_with_the_new_time(self, host, published):
        space = services.space_create(host=host, title="Later", scheduled_for=in_hours(2))
        with published() as frames:
            services.space_reschedule(space=space, actor=host, scheduled_for=in_hours(5))
        assert summary(frames) == [("space.updated", 1, "everyone")]
        assert frames[0]["data"] == space_wire(fresh(space))
        assert frames[0]["data"]["scheduled_for"] == space_wire(fresh(space))["scheduled_for"]
        assert frames[0]["data"]["state"] == "scheduled"

    def test_cancelling_publishes_space_cancelled(self, host, published):
        space = services.space_create(host=host, title="Off", scheduled_for=in_hours(2))
        with published() as frames:
            services.space_cancel(space=space, actor=host)
        assert summary(frames) == [("space.cancelled", 1, "everyone")]
        assert frames[0]["data"] == space_wire(fresh(space))
        assert frames[0]["data"]["state"] == "cancelled"

    def test_the_host_starting_a_scheduled_space_publishes_space_started(self, host, published):
        space = services.space_create(host=host, title="Early", scheduled_for=in_hours(2))
        with published() as frames:
            services.space_go_live(space=space, actor=host)
        assert summary(frames) == [("space.started", 1, "everyone")]
        assert frames[0]["data"] == space_wire(fresh(space))
        assert frames[0]["data"]["state"] == "live"

    def test_the_schedule_starting_a_space_publishes_space_started_once(self, host, published):
        space = overdue(host, 5)
        with published() as frames:
            services.space_go_live(space=space.pk, expected_scheduled_for=space.scheduled_for)
            services.space_go_live(space=space.pk, expected_scheduled_for=space.scheduled_for)
        assert summary(frames) == [("space.started", 1, "everyone")]
        # Seated by the schedule, the host is on stage but not yet here.
        assert [(p["role"], p["present"]) for p in frames[0]["data"]["speakers"]] == [("host", False)]

    def test_ending_publishes_space_ended_with_the_reason(self, host, space, published):
        with published() as frames:
            services.space_end(space=space, actor=host)
        assert summary(frames) == [("space.ended", 2, "everyone")]
        assert frames[0]["data"] == space_wire(fresh(space)) | {"reason": "host"}
        assert frames[0]["data"]["state"] == "ended" and frames[0]["data"]["speakers"] == []

    def test_the_system_ending_a_space_names_its_own_reason(self, space, published):
        with published() as frames:
            services.space_end(space=space.pk, reason="abandoned")
        assert [(f["type"], f["data"]["reason"]) for f in frames] == [("space.ended", "abandoned")]

    def test_marking_missed_publishes_space_missed(self, host, published):
        space = overdue(host, 90)
        with published() as frames:
            services.space_mark_missed(space_id=space.pk)
        assert summary(frames) == [("space.missed", 1, "everyone")]
        assert frames[0]["data"] == space_wire(fresh(space))
        assert frames[0]["data"]["state"] == "missed"

    def test_a_space_not_yet_missed_publishes_nothing(self, host, published):
        space = overdue(host, 10)
        with published() as frames:
            assert services.space_mark_missed(space_id=space.pk) is None
        assert frames == []

    def test_ending_an_abandoned_space_publishes_space_ended_reason_abandoned(self, host, space, published):
        Participant.objects.filter(space=space, role=Role.HOST).update(left_at=timezone.now() - timedelta(hours=1))
        with published() as frames:
            services.space_end_if_abandoned(space_id=space.pk)
        assert summary(frames) == [("space.ended", 2, "everyone")]
        assert frames[0]["data"] == space_wire(fresh(space)) | {"reason": "abandoned"}

    def test_ending_a_space_whose_host_never_came_says_so(self, host, published):
        space = overdue(host, 5)
        services.space_go_live(space=space.pk, expected_scheduled_for=space.scheduled_for)
        space.refresh_from_db()
        with published() as frames:
            services.space_end_if_abandoned(space_id=space.pk, now=space.started_at + timedelta(minutes=16))
        assert summary(frames) == [("space.ended", 2, "everyone")]
        assert frames[0]["data"] == space_wire(fresh(space)) | {"reason": "host_never_came"}

    def test_a_space_whose_host_is_present_is_not_ended_and_nothing_is_published(self, space, published):
        with published() as frames:
            assert services.space_end_if_abandoned(space_id=space.pk, now=timezone.now() + timedelta(hours=1)) is None
        assert frames == []


class TestAttendance:
    def test_joining_publishes_participant_joined_then_the_listener_count(self, space, published):
        person = UserFactory(username="ada")
        with published() as frames:
            participant = join(space, person)
        assert summary(frames) == [("participant.joined", 2, "everyone"), ("listeners.count", 3, "everyone")]
        assert frames[0]["data"] == {"participant": participant_wire(fresh(participant))}
        assert frames[0]["data"]["participant"] | {"joined_at": None} == {
            "id": participant.uid,
            "name": "ada",
            "role": "listener",
            "muted": False,
            "self_muted": False,
            "signed_in": True,
            "present": True,
            "hand_raised": False,
            "joined_at": None,
        }
        assert frames[1]["data"] == {"count": 1}

    def test_a_signed_out_listener_joins_under_their_label_in_the_next_batch(self, space, published):
        with published() as frames:
            services.space_join(space=space, visitor=Visitor.anonymous("anon-1", "Listener 4821"))
        # Signed-out listeners live in Redis: no row, no seq; the batch of that second names them.
        assert frames == []
        assert not Participant.objects.filter(space=space, user=None).exists()
        with published() as frames:
            batches.flush_batch(space.pk)
        assert [f["type"] for f in frames] == ["participant.batch"]
        [person] = frames[0]["data"]["joined"]
        assert (person["name"], person["signed_in"], person["role"]) == ("Listener 4821", False, "listener")
        assert frames[0]["data"]["count"] == 1

    def test_a_quiet_listener_is_counted_but_never_named(self, space, published):
        join(space)
        with published() as frames:
            join(space, quiet=True)
        assert summary(frames) == [("listeners.count", 4, "everyone")]
        assert frames[0]["data"] == {"count": 2}

    def test_joining_again_while_present_publishes_nothing(self, space, published):
        person = UserFactory()
        join(space, person)
        with published() as frames:
            join(space, person)
        assert frames == []

    def test_a_blocked_person_is_refused_and_nothing_is_published(self, host, space, published):
        person = UserFactory()
        services.participant_remove(space=space, actor=host, participant=join(space, person), block=True)
        before = seq_of(space)
        with published() as frames, pytest.raises(errors.Removed):
            join(space, person)
        assert frames == []
        assert seq_of(space) == before

    def test_the_host_seated_by_the_schedule_arriving_is_announced(self, host, published):
        space = overdue(host, 5)
        services.space_go_live(space=space.pk, expected_scheduled_for=space.scheduled_for)
        with published() as frames:
            join(fresh(space), host)
        assert summary(frames) == [("participant.joined", 2, "everyone"), ("listeners.count", 3, "everyone")]
        assert (frames[0]["data"]["participant"]["role"], frames[0]["data"]["participant"]["present"]) == ("host", True)
        assert frames[1]["data"] == {"count": 0}

    def test_leaving_publishes_participant_left_then_the_listener_count(self, space, published):
        stays, leaves = join(space), join(space)
        with published() as frames:
            services.space_leave(space=space, participant=leaves)
        assert summary(frames) == [("participant.left", 6, "everyone"), ("listeners.count", 7, "everyone")]
        assert frames[0]["data"] == {"participant": participant_wire(fresh(leaves))}
        assert frames[0]["data"]["participant"]["present"] is False
        assert frames[1]["data"] == {"count": 1}
        assert fresh(stays).is_present

    def test_a_speaker_leaving_gives_the_seat_back_in_the_same_frames(self, host, space, published):
        speaker = seated(space, host)
        before = seq_of(space)
        with published() as frames:
            services.space_leave(space=space, participant=speaker)
        assert summary(frames) == [
            ("participant.left", before + 1, "everyone"),
            ("listeners.count", before + 2, "everyone"),
        ]
        assert frames[0]["data"]["participant"]["present"] is False
        assert frames[1]["data"] == {"count": 0}

    def test_a_named_listener_who_turns_quiet_and_leaves_is_dropped_from_everyones_list(self, space, published):
        person = UserFactory()
        with published() as frames:
            participant = join(space, person)
            join(space, person, quiet=True)
            services.space_leave(space=space, participant=participant)
        assert [f["type"] for f in frames][0] == "participant.joined"
        dropped = [
            f
            for f in frames
            if f["type"] == "participant.left" and f["data"]["participant"]["id"] == participant.uid
        ]
        assert len(dropped) == 1

    def test_a_quiet_listener_who_rejoins_named_is_announced(self, space, published):
        person = UserFactory()
        join(space, person, quiet=True)
        with published() as frames:
            participant = join(space, person)
        assert [(f["type"], f["data"]["participant"]["id"]) for f in frames if "participant" in f["data"]] == [
            ("participant.joined", participant.uid)
        ]

    def test_leaving_twice_publishes_once(self, space, published):
        person = join(space)
        with published() as frames:
            services.space_leave(space=space, participant=person)
            services.space_leave(space=space, participant=person)
        assert [f["type"] for f in frames] == ["participant.left", "listeners.count"]


class TestHands:
    def test_raising_a_hand_tells_host_and_cohosts_only_without_taking_a_seq(self, space, published):
        person = join(space)
        before = seq_of(space)
        with published() as frames:
            services.hand_raise(space=space, participant=person)
        assert summary(frames) == [("hand.raised", before, "staff")]
        assert frames[0]["private"] is True
        assert frames[0]["data"] == {"participant": participant_wire(fresh(person))}
        assert frames[0]["data"]["participant"]["hand_raised"] is True
        assert seq_of(space) == before

    def test_lowering_a_hand_tells_host_and_cohosts_only(self, space, published):
        person = join(space)
        services.hand_raise(space=space, participant=person)
        before = seq_of(space)
        with published() as frames:
            services.hand_lower(space=space, participant=person)
        assert summary(frames) == [("hand.lowered", before, "staff")]
        assert frames[0]["private"] is True
        assert frames[0]["data"]["participant"]["hand_raised"] is False

    def test_raising_a_raised_hand_again_publishes_nothing(self, space, published):
        person = join(space)
        services.hand_raise(space=space, participant=person)
        with published() as frames:
            services.hand_raise(space=space, participant=person)
        assert frames == []

    def test_a_signed_out_listener_cannot_raise_a_hand_and_nothing_is_published(self, space, published):
        guest = services.space_join(space=space, visitor=Visitor.anonymous("anon-2", "Listener 1234"))
        with published() as frames, pytest.raises(errors.NotPermitted):
            services.hand_raise(space=space, participant=guest)
        assert frames == []


class TestRoles:
    def test_inviting_a_listener_publishes_role_changed_with_the_previous_role_and_count(self, host, space, published):
        join(space)
        person = join(space)
        services.hand_raise(space=space, participant=person)
        before = seq_of(space)
        with published() as frames:
            services.participant_set_role(space=space, actor=host, participant=person, role=Role.SPEAKER)
        assert summary(frames) == [("participant.role_changed", before + 1, "everyone")]
        assert frames[0]["data"] == {
            "participant": participant_wire(fresh(person)),
            "previous_role": "listener",
            "count": 1,
        }
        assert (frames[0]["data"]["participant"]["role"], frames[0]["data"]["participant"]["hand_raised"]) == (
            "speaker",
            False,
        )

    def test_moving_a_speaker_back_publishes_role_changed_counting_them_again(self, host, space, published):
        speaker = seated(space, host)
        before = seq_of(space)
        with published() as frames:
            services.participant_set_role(space=space, actor=host, participant=speaker, role=Role.LISTENER)
        assert summary(frames) == [("participant.role_changed", before + 1, "everyone")]
        assert frames[0]["data"] == {
            "participant": participant_wire(fresh(speaker)),
            "previous_role": "speaker",
            "count": 1,
        }

    def test_appointing_a_cohost_publishes_role_changed(self, host, space, published):
        speaker = seated(space, host)
        with published() as frames:
            services.participant_set_role(space=space, actor=host, participant=speaker, role=Role.COHOST)
        assert [
            (f["type"], f["data"]["previous_role"], f["data"]["participant"]["role"], f["data"]["count"]) for f in frames
        ] == [("participant.role_changed", "speaker", "cohost", 0)]

    def test_revoking_a_cohost_publishes_role_changed(self, host, space, published):
        cohost = seated(space, host, Role.COHOST)
        with published() as frames:
            services.participant_set_role(space=space, actor=host, participant=cohost, role=Role.SPEAKER)
        assert [(f["type"], f["data"]["previous_role"], f["data"]["participant"]["role"]) for f in frames] == [
            ("participant.role_changed", "cohost", "speaker")
        ]

    def test_declining_a_raised_hand_publishes_hand_lowered_only(self, host, space, published):
        person = join(space)
        services.hand_raise(space=space, participant=person)
        before = seq_of(space)
        with published() as frames:
            services.participant_set_role(space=space, actor=host, participant=person, role=Role.LISTENER)
        assert summary(frames) == [("hand.lowered", before, "staff")]
        assert frames[0]["private"] is True
        assert frames[0]["data"] == {"participant": participant_wire(fresh(person))}
        assert seq_of(space) == before

    def test_declining_a_listener_without_a_raised_hand_publishes_nothing(self, host, space, published):
        person = join(space)
        with published() as frames:
            services.participant_set_role(space=space, actor=host, participant=person, role=Role.LISTENER)
        assert frames == []

    def test_setting_the_role_someone_already_has_publishes_nothing(self, host, space, published):
        speaker = seated(space, host)
        with published() as frames:
            services.participant_set_role(space=space, actor=host, participant=speaker, role=Role.SPEAKER)
        assert frames == []

    def test_a_full_stage_refuses_the_invitation_and_nothing_is_published(self, host, space, settings, published):
        settings.SPACES_MAX_SPEAKERS = 2
        seated(space, host)
        person = join(space)
        before = seq_of(space)
        with published() as frames, pytest.raises(errors.SpeakerLimit):
            services.participant_set_role(space=space, actor=host, participant=person, role=Role.SPEAKER)
        assert frames == []
        assert seq_of(space) == before
        assert fresh(person).role == Role.LISTENER

    def test_a_cohost_limit_refuses_the_appointment_and_nothing_is_published(self, host, space, settings, published):
        settings.SPACES_MAX_COHOSTS = 1
        seated(space, host, Role.COHOST)
        speaker = seated(space, host)
        with published() as frames, pytest.raises(errors.CohostLimit):
            services.participant_set_role(space=space, actor=host, participant=speaker, role=Role.COHOST)
        assert frames == []

    def test_a_cohost_appointing_a_cohost_is_refused_and_nothing_is_published(self, host, space, published):
        cohost = seated(space, host, Role.COHOST)
        speaker = seated(space, host)
        with published() as frames, pytest.raises(errors.NotPermitted):
            services.participant_set_role(space=space, actor=cohost.user, participant=speaker, role=Role.COHOST)
        assert frames == []

    def test_a_listener_inviting_someone_is_refused_and_nothing_is_published(self, space, published):
        actor, person = join(space), join(space)
        with published() as frames, pytest.raises(errors.NotPermitted):
            services.participant_set_role(space=space, actor=actor.user, participant=person, role=Role.SPEAKER)
        assert frames == []


class TestMuteAndRemove:
    def test_muting_publishes_participant_muted(self, host, space, published):
        speaker = seated(space, host)
        before = seq_of(space)
        with published() as frames:
            services.participant_set_muted(space=space, actor=host, participant=speaker, muted=True)
        assert summary(frames) == [("participant.muted", before + 1, "everyone")]
        assert frames[0]["data"] == {"participant": participant_wire(fresh(speaker))}
        assert frames[0]["data"]["participant"]["muted"] is True

    def test_unmuting_publishes_participant_muted_with_muted_false(self, host, space, published):
        speaker = seated(space, host)
        services.participant_set_muted(space=space, actor=host, participant=speaker, muted=True)
        with published() as frames:
            services.participant_set_muted(space=space, actor=host, participant=speaker, muted=False)
        assert [(f["type"], f["data"]["participant"]["muted"]) for f in frames] == [("participant.muted", False)]

    def test_muting_someone_already_muted_publishes_nothing(self, host, space, published):
        speaker = seated(space, host)
        services.participant_set_muted(space=space, actor=host, participant=speaker, muted=True)
        with published() as frames:
            services.participant_set_muted(space=space, actor=host, participant=speaker, muted=True)
        assert frames == []

    def test_a_cohost_muting_the_host_is_refused_and_nothing_is_published(self, host, space, published):
        cohost = seated(space, host, Role.COHOST)
        host_seat = space.participants.get(role=Role.HOST)
        with published() as frames, pytest.raises(errors.NotPermitted):
            services.participant_set_muted(space=space, actor=cohost.user, participant=host_seat, muted=True)
        assert frames == []

    def test_removing_publishes_participant_removed_with_the_count(self, host, space, published):
        join(space)
        person = join(space)
        before = seq_of(space)
        with published() as frames:
            services.participant_remove(space=space, actor=host, participant=person)
        assert summary(frames) == [("participant.removed", before + 1, "everyone")]
        assert frames[0]["data"] == {"participant": participant_wire(fresh(person)), "blocked": False, "count": 1}
        assert frames[0]["data"]["participant"]["present"] is False

    def test_blocking_publishes_participant_removed_saying_blocked(self, host, space, published):
        speaker = seated(space, host)
        with published() as frames:
            services.participant_remove(space=space, actor=host, participant=speaker, block=True)
        assert [(f["type"], f["data"]["blocked"], f["data"]["count"]) for f in frames] == [
            ("participant.removed", True, 0)
        ]
        assert frames[0]["data"]["participant"]["role"] == "listener"

    def test_removing_the_host_is_refused_and_nothing_is_published(self, host, space, published):
        cohost = seated(space, host, Role.COHOST)
        with published() as frames, pytest.raises(errors.NotPermitted):
            services.participant_remove(
                space=space, actor=cohost.user, participant=space.participants.get(role=Role.HOST)
            )
        assert frames == []

    def test_an_update_of_role_and_mute_publishes_both_in_order(self, host, space, published):
        person = join(space)
        before = seq_of(space)
        with published() as frames:
            services.participant_update(space=space, actor=host, participant=person, role=Role.SPEAKER, muted=True)
        assert summary(frames) == [
            ("participant.role_changed", before + 1, "everyone"),
            ("participant.muted", before + 2, "everyone"),
        ]
        invited, muted = frames[0]["data"], frames[1]["data"]
        assert (invited["participant"]["role"], invited["participant"]["muted"], invited["previous_role"]) == (
            "speaker",
            False,
            "listener",
        )
        assert (muted["participant"]["role"], muted["participant"]["muted"]) == ("speaker", True)

    def test_an_update_whose_mute_is_refused_publishes_neither_change(self, host, space, published):
        speaker = seated(space, host)
        before = seq_of(space)
        with published() as frames, pytest.raises(errors.Conflict):
            # Moved back to the listeners, they are no longer on the stage to be muted.
            services.participant_update(space=space, actor=host, participant=speaker, role=Role.LISTENER, muted=True)
        assert frames == []
        assert seq_of(space) == before
        assert fresh(speaker).role == Role.SPEAKER


class TestReactions:
    def test_a_reaction_goes_out_at_once_as_ephemeral_with_seq_zero(self, space, published):
        person = join(space, UserFactory(username="grace"))
        before = seq_of(space)
        with published() as frames:
            services.reaction_send(space=space, participant=person, emoji="👏")
        assert summary(frames) == [("reaction", 0, "everyone")]
        assert frames[0]["ephemeral"] is True
        assert "private" not in frames[0]
        assert frames[0]["data"] == {"emoji": "👏", "by": "grace"}
        assert seq_of(space) == before

    def test_a_quiet_listeners_reaction_is_anonymous(self, space, published):
        person = join(space, quiet=True)
        with published() as frames:
            services.reaction_send(space=space, participant=person, emoji="🔥")
        assert [(f["type"], f["data"]) for f in frames] == [("reaction", {"emoji": "🔥", "by": None})]

    def test_an_unknown_reaction_is_refused_and_nothing_is_published(self, space, published):
        person = join(space)
        with published() as frames, pytest.raises(errors.InvalidInput):
            services.reaction_send(space=space, participant=person, emoji="💩")
        assert frames == []


class TestRefusedAndRolledBack:
    def test_someone_else_editing_a_space_is_refused_and_nothing_is_published(self, space, published):
        with published() as frames, pytest.raises(errors.NotPermitted):
            services.space_update(space=space, actor=UserFactory(), title="Mine now")
        assert frames == []

    def test_someone_else_ending_a_space_is_refused_and_nothing_is_published(self, space, published):
        with published() as frames, pytest.raises(errors.NotPermitted):
            services.space_end(space=space, actor=UserFactory())
        assert frames == []
        assert fresh(space).state == "live"

    def test_cancelling_a_live_space_is_refused_and_nothing_is_published(self, host, space, published):
        with published() as frames, pytest.raises(errors.InvalidTransition):
            services.space_cancel(space=space, actor=host)
        assert frames == []

    def test_a_second_live_space_is_refused_and_nothing_is_published(self, host, space, published):
        with published() as frames, pytest.raises(errors.OneLiveSpace):
            services.space_create(host=host, title="Another")
        assert frames == []

    def test_a_rolled_back_transaction_publishes_nothing(self, host, space, published):
        speaker = seated(space, host)
        before = seq_of(space)
        with published() as frames:
            with pytest.raises(RuntimeError), transaction.atomic():
                services.participant_set_muted(space=space, actor=host, participant=speaker, muted=True)
                services.participant_remove(space=space, actor=host, participant=speaker)
                raise RuntimeError("the request failed after the services ran")
        assert frames == []
        assert seq_of(space) == before
        assert fresh(speaker).muted is False

    def test_only_the_work_that_committed_is_published(self, host, space, published):
        speaker = seated(space, host)
        with published() as frames:
            services.participant_set_muted(space=space, actor=host, participant=speaker, muted=True)
            with pytest.raises(RuntimeError), transaction.atomic():
                services.participant_remove(space=space, actor=host, participant=speaker)
                raise RuntimeError("rolled back")
        assert [f["type"] for f in frames] == ["participant.muted"]


class TestRoomTools:
    def test_a_self_mute_publishes_participant_self_muted_to_everyone(self, host, space, published):
        speaker = seated(space, host)
        before = seq_of(space)
        with published() as frames:
            services.mic_set_self_muted(space=space, participant=speaker, muted=True)
            services.mic_set_self_muted(space=space, participant=speaker, muted=True)  # no change: no frame
        assert summary(frames) == [("participant.self_muted", before + 1, "everyone")]
        person = frames[0]["data"]["participant"]
        assert (person["self_muted"], person["muted"]) == (True, False)

    def test_a_listener_cannot_self_mute_and_nothing_is_published(self, space, published):
        listener = join(space)
        with published() as frames, pytest.raises(errors.Conflict):
            services.mic_set_self_muted(space=space, participant=listener, muted=True)
        assert frames == []

    def test_mute_all_publishes_one_participant_muted_per_speaker_but_the_actor(self, host, space, published):
        first, second = seated(space, host), seated(space, host)
        services.participant_set_muted(space=space, actor=host, participant=second, muted=True)
        before = seq_of(space)
        with published() as frames:
            muted = services.stage_mute_all(space=space, actor=host)
        assert [p.pk for p in muted] == [first.pk]
        assert summary(frames) == [("participant.muted", before + 1, "everyone")]
        assert frames[0]["data"]["participant"]["id"] == first.uid

    def test_pinning_and_unpinning_publish_space_updated_with_the_pin(self, host, space, published):
        with published() as frames:
            services.space_pin_link(space=space, actor=host, url="https://example.org/notes", label="Notes")
            services.space_unpin_link(space=space, actor=host)
            services.space_unpin_link(space=space, actor=host)  # nothing pinned: no frame
        assert [(f["type"], f["data"]["pinned"]) for f in frames] == [
            ("space.updated", {"url": "https://example.org/notes", "label": "Notes"}),
            ("space.updated", None),
        ]


def participants_in(frame: dict) -> list[dict]:
    data = frame["data"]
    found = [data["participant"]] if isinstance(data.get("participant"), dict) else []
    found += data.get("speakers", [])
    found += data.get("joined", []) + data.get("left", [])
    return found


def test_every_frame_has_the_one_wire_shape(host, published):
    """A whole Space, from scheduling to its end, through every service that publishes."""
    with published() as frames:
        space = services.space_create(host=host, title="Shapes", scheduled_for=in_hours(1))
        services.space_update(space=space, actor=host, title="Shapes, renamed")
        space = services.space_go_live(space=space, actor=host)
        host_seat = join(space, host)
        services.space_pin_link(space=space, actor=host, url="https://example.org/", label="")
        captions_services.captions_set(space=space, actor=host, on=True)
        captions_services.consent_give(space=space, actor=host)
        captions_services.segment_add(space_id=space.pk, speakers=[host_seat.uid], start=0, end=1, text="hello")
        person, other = join(space), join(space)
        services.space_join(space=space, visitor=Visitor.anonymous("anon-3", "Listener 7777"))
        services.hand_raise(space=space, participant=person)
        services.hand_lower(space=space, participant=person)
        services.hand_raise(space=space, participant=person)
        services.participant_update(space=space, actor=host, participant=person, role=Role.SPEAKER, muted=True)
        services.participant_set_role(space=space, actor=host, participant=person, role=Role.COHOST)
        services.participant_set_muted(space=space, actor=host, participant=person, muted=False)
        services.mic_set_self_muted(space=space, participant=person, muted=True)
        services.reaction_send(space=space, participant=other, emoji="💯")
        services.hand_raise(space=space, participant=other)
        services.participant_set_role(space=space, actor=host, participant=other, role=Role.LISTENER)
        services.participant_remove(space=space, actor=host, participant=other, block=True)
        services.space_leave(space=space, participant=person)
        services.space_leave(space=space, participant=host_seat)
        services.space_end(space=space, actor=host)
        cancelled = services.space_create(host=host, title="Never", scheduled_for=in_hours(2))
        services.space_cancel(space=cancelled, actor=host)
    missed = overdue(UserFactory(), 90)
    with published() as more:
        services.space_mark_missed(space_id=missed.pk)
    frames = frames + more

    assert {f["type"] for f in frames} == EVENT_TYPES - {"participant.batch", "speaking"}
    for frame in frames:
        assert frame["type"] in EVENT_TYPES
        assert set(frame) - {"private", "ephemeral"} == FRAME_KEYS, frame["type"]
        assert frame.get("private", False) is (frame["audience"] == "staff"), frame["type"]
        assert frame.get("ephemeral", False) is (frame["seq"] == 0), frame["type"]
        for person in participants_in(frame):
            assert set(person) == PARTICIPANT_KEYS, frame["type"]
            assert person["joined_at"].endswith("Z")
        if frame["type"].startswith("space."):
            extra = {"reason"} if frame["type"] == "space.ended" else set()
            assert set(frame["data"]) == SPACE_KEYS | extra, frame["type"]
            assert set(frame["data"]["host"]) == {"username"}

    # Events for everyone number the Space's changes without a gap; the rest take no number.
    numbered = [
        f["seq"]
        for f in frames
        if f["group"] == f"space.{space.pk}" and f["audience"] == "everyone" and not f.get("ephemeral")
    ]
    assert numbered == list(range(1, len(numbered) + 1))
    assert numbered[-1] == seq_of(space)
