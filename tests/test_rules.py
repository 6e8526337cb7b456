"""Each product rule, through the services and, where the database holds it, bypassing them."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from rooms.identity import Visitor
from rooms import errors, services
from rooms.models import Participant, Space

from .factories import ParticipantFactory, SpaceFactory, UserFactory

pytestmark = pytest.mark.django_db

Role = Participant.Role


def in_hours(hours: float) -> datetime:
    return timezone.now() + timedelta(hours=hours)


def seat(space: Space, role: str = Role.LISTENER, **kwargs) -> Participant:
    return ParticipantFactory(space=space, role=role, **kwargs)


class TestOneScheduledSpacePerHost:
    def test_second_schedule_is_refused_naming_the_first(self, host):
        first = services.space_create(host=host, title="First", scheduled_for=in_hours(2))
        with pytest.raises(errors.OneScheduledSpace) as caught:
            services.space_create(host=host, title="Second", scheduled_for=in_hours(3))
        assert "First" in caught.value.detail
        assert first.share_url in caught.value.detail
        assert caught.value.extra["space"]["code"] == first.code

    def test_a_cancelled_space_frees_the_slot(self, host):
        first = services.space_create(host=host, title="First", scheduled_for=in_hours(2))
        services.space_cancel(space=first, actor=host)
        assert services.space_create(host=host, title="Again", scheduled_for=in_hours(2)).state == "scheduled"

    def test_other_hosts_are_not_affected(self, host, user):
        services.space_create(host=host, title="Mine", scheduled_for=in_hours(2))
        assert services.space_create(host=user, title="Theirs", scheduled_for=in_hours(2))

    def test_the_database_refuses_a_second_even_without_the_service(self, host):
        SpaceFactory(host=host, scheduled=True)
        with pytest.raises(IntegrityError), transaction.atomic():
            SpaceFactory(host=host, scheduled=True)


class TestScheduleWindow:
    def test_in_the_past_is_refused(self, host):
        with pytest.raises(errors.InPast):
            services.space_create(host=host, title="Late", scheduled_for=in_hours(-1))

    def test_more_than_14_days_ahead_states_the_latest_allowed_time(self, host):
        with pytest.raises(errors.TooFarAhead) as caught:
            services.space_create(host=host, title="Far", scheduled_for=in_hours(14 * 24 + 1))
        latest = datetime.fromisoformat(caught.value.extra["latest_allowed"])
        assert abs(latest - in_hours(14 * 24)) < timedelta(seconds=5)
        assert "14 days" in caught.value.detail

    def test_just_inside_14_days_is_accepted(self, host):
        space = services.space_create(host=host, title="Edge", scheduled_for=in_hours(14 * 24 - 0.01))
        assert space.scheduled_on <= timezone.now()

    def test_naive_datetime_is_refused(self, host):
        with pytest.raises(errors.NaiveDatetime):
            services.space_create(host=host, title="Naive", scheduled_for=datetime(2031, 1, 1, 10))

    def test_stored_in_utc_whatever_the_offset_given(self, host):
        when = (timezone.now() + timedelta(days=1)).astimezone(ZoneInfo("Asia/Kolkata")).replace(microsecond=0)
        space = services.space_create(host=host, title="Offset", scheduled_for=when)
        space.refresh_from_db()
        assert space.scheduled_for == when
        assert space.scheduled_for.utcoffset() == timedelta(0)

    def test_rescheduling_measures_the_window_from_its_own_moment(self, host):
        space = services.space_create(host=host, title="Move", scheduled_for=in_hours(1))
        # Pretend it was scheduled 10 days ago: 14 days from *now* must still be allowed.
        Space.objects.filter(pk=space.pk).update(
            scheduled_on=timezone.now() - timedelta(days=10), scheduled_for=in_hours(1)
        )
        moved = services.space_reschedule(space=space, actor=host, scheduled_for=in_hours(13 * 24))
        assert moved.scheduled_for > timezone.now() + timedelta(days=12)
        with pytest.raises(errors.TooFarAhead):
            services.space_reschedule(space=space, actor=host, scheduled_for=in_hours(15 * 24))

    def test_rescheduling_into_the_past_is_refused(self, host):
        space = services.space_create(host=host, title="Move", scheduled_for=in_hours(1))
        with pytest.raises(errors.InPast):
            services.space_reschedule(space=space, actor=host, scheduled_for=in_hours(-2))

    def test_across_a_daylight_saving_change_the_instant_is_kept(self, host, settings):
        # Europe/Berlin leaves summer time on the last Sunday of October; pick "tomorrow 18:00 Berlin"
        # in a week that may or may not cross it: the stored instant is exactly the one given.
        berlin = ZoneInfo("Europe/Berlin")
        local = (timezone.now() + timedelta(days=7)).astimezone(berlin).replace(hour=18, minute=0, second=0, microsecond=0)
        space = services.space_create(host=host, title="DST", scheduled_for=local)
        space.refresh_from_db()
        assert space.scheduled_for.astimezone(berlin).hour == 18
        assert space.scheduled_for.astimezone(UTC) == local.astimezone(UTC)

    def test_the_database_refuses_more_than_14_days_even_without_the_service(self, host):
        now = timezone.now()
        with pytest.raises(IntegrityError), transaction.atomic():
            Space.objects.create(
                host=host, title="x", state="scheduled", scheduled_on=now, scheduled_for=now + timedelta(days=15)
            )

    def test_the_database_refuses_a_time_before_it_was_set(self, host):
        now = timezone.now()
        with pytest.raises(IntegrityError), transaction.atomic():
            Space.objects.create(
                host=host, title="x", state="scheduled", scheduled_on=now, scheduled_for=now - timedelta(minutes=1)
            )


class TestOneLiveSpacePerHost:
    def test_second_live_space_is_refused(self, host):
        services.space_create(host=host, title="On air")
        with pytest.raises(errors.OneLiveSpace):
            services.space_create(host=host, title="Also on air")

    def test_starting_a_scheduled_space_while_live_is_refused(self, host):
        scheduled = services.space_create(host=host, title="Later", scheduled_for=in_hours(1))
        services.space_create(host=host, title="Now")
        with pytest.raises(errors.OneLiveSpace):
            services.space_go_live(space=scheduled, actor=host)

    def test_the_database_refuses_a_second_live_space(self, host):
        SpaceFactory(host=host)
        with pytest.raises(IntegrityError), transaction.atomic():
            SpaceFactory(host=host)


class TestStageLimits:
    def test_the_fourteenth_speaking_role_is_refused(self, live_space, host, settings):
        for _ in range(settings.SPACES_MAX_SPEAKERS - 1):
            seat(live_space, Role.SPEAKER)
        extra = seat(live_space)
        with pytest.raises(errors.SpeakerLimit) as caught:
            services.participant_set_role(space=live_space, actor=host, participant=extra, role=Role.SPEAKER)
        assert "13" in caught.value.detail
        assert live_space.participants.filter(role__in=Participant.SPEAKING_ROLES).count() == 13

    def test_cohosts_count_as_speaking_roles(self, live_space, host, settings):
        for _ in range(settings.SPACES_MAX_SPEAKERS - 1):
            seat(live_space, Role.SPEAKER)
        with pytest.raises(errors.SpeakerLimit):
            services.participant_set_role(space=live_space, actor=host, participant=seat(live_space), role=Role.COHOST)

    def test_at_most_two_cohosts(self, live_space, host):
        a, b, c = seat(live_space), seat(live_space), seat(live_space)
        services.participant_set_role(space=live_space, actor=host, participant=a, role=Role.COHOST)
        services.participant_set_role(space=live_space, actor=host, participant=b, role=Role.COHOST)
        with pytest.raises(errors.CohostLimit):
            services.participant_set_role(space=live_space, actor=host, participant=c, role=Role.COHOST)

    def test_a_demotion_frees_a_seat(self, live_space, host, settings):
        speakers = [seat(live_space, Role.SPEAKER) for _ in range(settings.SPACES_MAX_SPEAKERS - 1)]
        services.participant_set_role(space=live_space, actor=host, participant=speakers[0], role=Role.LISTENER)
        promoted = services.participant_set_role(space=live_space, actor=host, participant=seat(live_space), role=Role.SPEAKER)
        assert promoted.role == Role.SPEAKER

    def test_promotion_issues_a_fresh_media_token_and_demotion_clears_it(self, live_space, host):
        listener = seat(live_space)
        speaker = services.participant_set_role(space=live_space, actor=host, participant=listener, role=Role.SPEAKER)
        assert len(speaker.media_token) >= 32
        back = services.participant_set_role(space=live_space, actor=host, participant=speaker, role=Role.LISTENER)
        assert back.media_token == ""

    def test_signed_out_listeners_cannot_be_promoted(self, live_space, host):
        anonymous = services.space_join(space=live_space, visitor=Visitor.anonymous("abc", "Listener 1234"))
        with pytest.raises(errors.Conflict) as caught:
            services.participant_set_role(space=live_space, actor=host, participant=anonymous, role=Role.SPEAKER)
        assert caught.value.code == "sign_in_to_speak"


class TestRemoval:
    def test_blocked_account_cannot_rejoin(self, live_space, host, user):
        participant = services.space_join(space=live_space, visitor=Visitor.of(user))
        services.participant_remove(space=live_space, actor=host, participant=participant, block=True)
        with pytest.raises(errors.Removed):
            services.space_join(space=live_space, visitor=Visitor.of(user))

    def test_blocked_session_cannot_rejoin(self, live_space, host):
        participant = services.space_join(space=live_space, visitor=Visitor.anonymous("session-1", "Listener 1"))
        services.participant_remove(space=live_space, actor=host, participant=participant, block=True)
        with pytest.raises(errors.Removed):
            services.space_join(space=live_space, visitor=Visitor.anonymous("session-1", "Listener 1"))
        assert services.space_join(space=live_space, visitor=Visitor.anonymous("session-2", "Listener 2"))

    def test_removed_without_block_may_come_back(self, live_space, host, user):
        participant = services.space_join(space=live_space, visitor=Visitor.of(user))
        services.participant_remove(space=live_space, actor=host, participant=participant)
        assert services.space_join(space=live_space, visitor=Visitor.of(user)).is_present

    def test_nobody_removes_the_host(self, live_space, host):
        cohost_user = UserFactory()
        cohost = seat(live_space, Role.COHOST, user=cohost_user)
        host_p = live_space.participants.get(role=Role.HOST)
        with pytest.raises(errors.NotPermitted):
            services.participant_remove(space=live_space, actor=cohost_user, participant=host_p)
        assert cohost.role == Role.COHOST

    def test_cohosts_cannot_remove_each_other(self, live_space):
        a, b = UserFactory(), UserFactory()
        seat(live_space, Role.COHOST, user=a)
        other = seat(live_space, Role.COHOST, user=b)
        with pytest.raises(errors.NotPermitted):
            services.participant_remove(space=live_space, actor=a, participant=other)


class TestTitleAndDescription:
    @pytest.mark.parametrize("title", ["", "   ", "x" * 71])
    def test_bad_titles_are_refused(self, host, title):
        with pytest.raises(errors.InvalidInput):
            services.space_create(host=host, title=title)

    def test_seventy_characters_is_fine(self, host):
        assert len(services.space_create(host=host, title="x" * 70).title) == 70

    def test_description_over_280_is_refused(self, host):
        with pytest.raises(errors.InvalidInput) as caught:
            services.space_create(host=host, title="ok", description="d" * 281)
        assert "280" in caught.value.detail

    def test_the_database_refuses_an_empty_title(self, host):
        with pytest.raises(IntegrityError), transaction.atomic():
            SpaceFactory(host=host, title="")


class TestLifecycle:
    def test_scheduled_goes_live_then_ends(self, host):
        space = services.space_create(host=host, title="Show", scheduled_for=in_hours(1))
        space = services.space_go_live(space=space, actor=host)
        assert space.state == "live" and space.participants.get(role=Role.HOST).user == host
        assert services.space_end(space=space, actor=host).state == "ended"

    @pytest.mark.parametrize(
        "state, action",
        [
            ("live", "cancel"),
            ("live", "start"),
            ("ended", "end"),
            ("ended", "start"),
            ("ended", "cancel"),
            ("cancelled", "start"),
            ("cancelled", "end"),
            ("scheduled", "end"),
        ],
    )
    def test_off_the_lifecycle_is_a_conflict(self, host, state, action):
        traits = {"scheduled": True} if state == "scheduled" else {}
        space = SpaceFactory(host=host, state=state, **traits)
        call = {
            "cancel": lambda: services.space_cancel(space=space, actor=host),
            "start": lambda: services.space_go_live(space=space, actor=host),
            "end": lambda: services.space_end(space=space, actor=host),
        }[action]
        with pytest.raises(errors.Conflict):
            call()
        space.refresh_from_db()
        assert space.state == state

    def test_the_scheduler_start_is_idempotent(self, host):
        space = services.space_create(host=host, title="Show", scheduled_for=in_hours(1))
        armed = space.scheduled_for
        assert services.space_go_live(space=space.pk, expected_scheduled_for=armed).state == "live"
        assert services.space_go_live(space=space.pk, expected_scheduled_for=armed) is None

    def test_the_scheduler_skips_a_rescheduled_space(self, host):
        space = services.space_create(host=host, title="Show", scheduled_for=in_hours(1))
        armed = space.scheduled_for
        services.space_reschedule(space=space, actor=host, scheduled_for=in_hours(2))
        assert services.space_go_live(space=space.pk, expected_scheduled_for=armed) is None
        space.refresh_from_db()
        assert space.state == "scheduled"

    def test_ending_makes_everyone_leave(self, live_space, host, user):
        services.space_join(space=live_space, visitor=Visitor.of(user))
        services.space_end(space=live_space, actor=host)
        assert not live_space.participants.filter(left_at__isnull=True).exists()
