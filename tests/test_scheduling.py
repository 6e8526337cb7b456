"""Scheduling services: the due sweep, starts, missed Spaces, reminders and abandoned Spaces."""

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from rooms import services
from rooms.models import Participant, Space
from scheduling import services as scheduling
from scheduling.models import Notification, Reminder

from .factories import SpaceFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def eager_tasks(settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    from spaces.celery import app

    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = False


def overdue(host, minutes: float) -> Space:
    """A Space scheduled for ``minutes`` ago (written directly: the services refuse the past)."""
    when = timezone.now() - timedelta(minutes=minutes)
    return SpaceFactory(host=host, scheduled=True, scheduled_for=when, scheduled_on=when - timedelta(days=1))


def test_an_overdue_space_within_the_hour_starts_late(host):
    space = overdue(host, 10)
    assert scheduling.spaces_due_sweep() == {"armed": 0, "started": 1, "missed": 0}
    space.refresh_from_db()
    assert space.state == "live" and space.started_by == "schedule"


def test_a_space_missed_by_more_than_an_hour_is_marked_missed_and_the_host_told(host):
    space = overdue(host, 61)
    assert scheduling.spaces_due_sweep()["missed"] == 1
    space.refresh_from_db()
    assert space.state == "missed"
    assert Notification.objects.get(user=host).kind == "space_missed"
    assert not Space.objects.filter(state="scheduled", scheduled_for__lt=timezone.now()).exists()


def test_a_space_due_within_the_minute_is_armed_not_started_early(host, monkeypatch):
    space = scheduling.space_schedule(host=host, title="Soon", scheduled_for=timezone.now() + timedelta(seconds=30))
    armed = []
    from scheduling import tasks

    monkeypatch.setattr(tasks.start_space_task, "apply_async", lambda args, eta: armed.append((args, eta)))
    assert scheduling.spaces_due_sweep()["armed"] == 1
    assert armed == [((space.pk, space.scheduled_for.isoformat()), space.scheduled_for)]
    space.refresh_from_db()
    assert space.state == "scheduled"


def test_spaces_further_out_are_left_alone(host):
    scheduling.space_schedule(host=host, title="Later", scheduled_for=timezone.now() + timedelta(minutes=5))
    assert scheduling.spaces_due_sweep() == {"armed": 0, "started": 0, "missed": 0}


def test_a_start_armed_for_an_old_time_is_a_no_op_after_rescheduling(host):
    space = scheduling.space_schedule(host=host, title="Moved", scheduled_for=timezone.now() + timedelta(minutes=1))
    old = space.scheduled_for
    scheduling.space_reschedule(space=space, actor=host, scheduled_for=timezone.now() + timedelta(hours=1))
    assert scheduling.space_start_scheduled(space_id=space.pk, armed_for=old) is None
    space.refresh_from_db()
    assert space.state == "scheduled"


def test_a_cancelled_space_never_starts(host):
    space = scheduling.space_schedule(host=host, title="Off", scheduled_for=timezone.now() + timedelta(minutes=1))
    scheduling.space_cancel(space=space, actor=host)
    assert scheduling.space_start_scheduled(space_id=space.pk, armed_for=space.scheduled_for) is None


def test_reminders_and_the_host_notice_go_out_exactly_once(host, django_capture_on_commit_callbacks):
    host.email = "host@example.com"
    host.save()
    space = scheduling.space_schedule(host=host, title="Show", scheduled_for=timezone.now() + timedelta(minutes=1))
    fans = [UserFactory() for _ in range(3)]
    for fan in fans:
        scheduling.reminder_set(space=space, user=fan)
    scheduling.reminder_set(space=space, user=fans[0])  # twice: still one reminder
    with django_capture_on_commit_callbacks(execute=True):
        scheduling.space_start_scheduled(space_id=space.pk, armed_for=space.scheduled_for)
    assert len(mail.outbox) == 4
    assert scheduling.space_started_notify(space_id=space.pk) == 0  # a second run tells nobody again
    assert Notification.objects.filter(space=space, kind="space_started").count() == 3
    assert Notification.objects.filter(space=space, kind="your_space_live", user=host).count() == 1
    assert sorted(m.to[0] for m in mail.outbox) == sorted([host.email] + [f.email for f in fans])
    assert all(space.share_url in m.body for m in mail.outbox)
    assert not Reminder.objects.filter(space=space, sent_at__isnull=True).exists()


def test_a_reminder_cannot_be_set_on_a_live_space(host, user):
    space = services.space_start_now(host=host, title="Live")
    from rooms.errors import InvalidTransition

    with pytest.raises(InvalidTransition):
        scheduling.reminder_set(space=space, user=user)


def test_notifications_are_read_once_and_only_by_their_owner(host, user):
    space = overdue(host, 61)
    scheduling.spaces_due_sweep()
    notification = Notification.objects.get(user=host)
    from rooms.errors import NotFound

    with pytest.raises(NotFound):
        scheduling.notification_mark_read(user=user, notification_id=notification.pk)
    assert scheduling.notification_mark_read(user=host, notification_id=notification.pk).read_at is not None


class TestAbandoned:
    def test_host_and_cohosts_away_longer_than_the_grace_ends_the_space(self, host, settings):
        space = services.space_start_now(host=host, title="Gone")
        away = timezone.now() - settings.SPACES_HOST_GRACE - timedelta(seconds=1)
        Participant.objects.filter(space=space, role="host").update(left_at=away)
        assert scheduling.spaces_abandoned_end() == [space]
        space.refresh_from_db()
        assert space.state == "ended"

    def test_a_present_cohost_keeps_the_space_alive(self, host, settings):
        space = services.space_start_now(host=host, title="Held")
        cohost = services.space_join(space=space, user=UserFactory())
        services.participant_set_role(space=space, actor=host, participant=cohost, role="cohost")
        Participant.objects.filter(space=space, role="host").update(left_at=timezone.now() - timedelta(hours=1))
        assert scheduling.spaces_abandoned_end() == []

    def test_a_short_absence_is_not_abandonment(self, host):
        space = services.space_start_now(host=host, title="Reloading")
        Participant.objects.filter(space=space, role="host").update(left_at=timezone.now() - timedelta(seconds=30))
        assert scheduling.spaces_abandoned_end() == []

    def test_a_scheduled_start_whose_host_never_came_ends_after_15_minutes(self, host):
        space = overdue(host, 5)
        scheduling.spaces_due_sweep()
        space.refresh_from_db()
        host_p = space.participants.get(role="host")
        assert host_p.left_at == space.started_at  # seated, but not here
        # 10 minutes in: longer than the 5-minute grace, but a host who never came gets 15.
        assert scheduling.spaces_abandoned_end(now=space.started_at + timedelta(minutes=10)) == []
        ended = scheduling.spaces_abandoned_end(now=space.started_at + timedelta(minutes=16))
        assert ended == [space]

    def test_a_host_who_arrives_is_present(self, host):
        space = overdue(host, 1)
        scheduling.spaces_due_sweep()
        space.refresh_from_db()
        services.space_join(space=space, user=host)
        assert space.participants.get(role="host").left_at is None
        assert scheduling.spaces_abandoned_end(now=timezone.now() + timedelta(hours=1)) == []


def test_a_space_scheduled_across_the_end_of_summer_time_starts_at_the_right_instant(host, monkeypatch):
    """Set on 24 October 2026 (CEST, UTC+2) for 18:00 Berlin time on 26 October (CET, UTC+1):
    stored as 17:00 UTC, armed just before that instant and started just after it."""
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    from scheduling import tasks

    set_on = datetime(2026, 10, 24, 12, 0, tzinfo=UTC)
    monkeypatch.setattr(timezone, "now", lambda: set_on)
    when = datetime(2026, 10, 26, 18, 0, tzinfo=ZoneInfo("Europe/Berlin"))
    space = scheduling.space_schedule(host=host, title="After the change", scheduled_for=when)
    space.refresh_from_db()
    assert space.scheduled_for == datetime(2026, 10, 26, 17, 0, tzinfo=UTC)

    armed = []
    monkeypatch.setattr(tasks.start_space_task, "apply_async", lambda args, eta: armed.append(eta))
    assert scheduling.spaces_due_sweep(now=datetime(2026, 10, 26, 16, 58, tzinfo=UTC))["armed"] == 0
    assert scheduling.spaces_due_sweep(now=datetime(2026, 10, 26, 16, 59, 30, tzinfo=UTC))["armed"] == 1
    assert armed == [datetime(2026, 10, 26, 17, 0, tzinfo=UTC)]
    monkeypatch.setattr(timezone, "now", lambda: datetime(2026, 10, 26, 17, 0, 1, tzinfo=UTC))
    assert scheduling.spaces_due_sweep(now=datetime(2026, 10, 26, 17, 0, 1, tzinfo=UTC))["started"] == 1
