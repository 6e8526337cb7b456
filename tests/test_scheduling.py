"""Scheduling services: the due sweep, starts, missed Spaces, reminders, notices, emails and
abandoned Spaces, one behaviour per test (Celery runs eagerly here; tests/test_celery_*.py use
real workers)."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core import mail
from django.utils import timezone

from rooms import publisher, services, tasks
from rooms.identity import Visitor
from rooms.errors import InvalidTransition, NotFound
from rooms.models import Participant, Space
from rooms.services import timekeeping
from scheduling import services as scheduling
from scheduling import tasks as scheduling_tasks
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


@pytest.fixture
def armed(monkeypatch):
    """Record the starts the sweep arms instead of sending them to a broker."""
    calls = []
    monkeypatch.setattr(
        tasks.start_space_task, "apply_async", lambda args, kwargs=None, eta=None, **options: calls.append((args, eta))
    )
    return calls


def overdue(host, minutes: float) -> Space:
    """A Space scheduled for ``minutes`` ago (written directly: the services refuse the past)."""
    when = timezone.now() - timedelta(minutes=minutes)
    return SpaceFactory(host=host, scheduled=True, scheduled_for=when, scheduled_on=when - timedelta(days=1))


def soon(host, seconds: float = 60, title: str = "Soon") -> Space:
    return services.space_create(host=host, title=title, scheduled_for=timezone.now() + timedelta(seconds=seconds))


def start_and_notify(space, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        return services.space_start_scheduled(space_id=space.pk, armed_for=space.scheduled_for)


class TestSweep:
    def test_an_overdue_space_within_the_hour_starts_late(self, host):
        space = overdue(host, 10)
        assert services.spaces_due_sweep() == {"armed": 0, "started": 1, "missed": 0}
        space.refresh_from_db()
        assert space.state == "live" and space.started_by == "schedule"

    def test_a_space_missed_by_more_than_an_hour_is_marked_missed_and_the_host_told(self, host):
        space = overdue(host, 61)
        assert services.spaces_due_sweep()["missed"] == 1
        space.refresh_from_db()
        assert space.state == "missed"
        assert Notification.objects.get(user=host).kind == "space_missed"
        assert not Space.objects.filter(state="scheduled", scheduled_for__lt=timezone.now()).exists()

    def test_a_space_due_within_the_minute_is_armed_not_started_early(self, host, armed):
        space = soon(host, 30)
        assert services.spaces_due_sweep()["armed"] == 1
        assert armed == [((space.pk, space.scheduled_for.isoformat()), space.scheduled_for)]
        space.refresh_from_db()
        assert space.state == "scheduled"

    def test_spaces_further_out_are_left_alone(self, host, armed):
        soon(host, 5 * 60)
        assert services.spaces_due_sweep() == {"armed": 0, "started": 0, "missed": 0}
        assert armed == []

    def test_every_sweep_arms_again_and_the_start_still_happens_once(self, host, armed, django_capture_on_commit_callbacks):
        space = soon(host, 50)
        services.spaces_due_sweep()
        services.spaces_due_sweep()
        assert len(armed) == 2
        with django_capture_on_commit_callbacks(execute=True):
            results = [services.space_start_scheduled(space_id=args[0], armed_for=eta) for args, eta in armed]
        assert [r is not None for r in results] == [True, False]
        space.refresh_from_db()
        assert space.event_seq == 1  # one space.started

    def test_one_failing_space_does_not_hold_up_the_others(self, monkeypatch, caplog):
        broken, fine = overdue(UserFactory(), 5), overdue(UserFactory(), 5)
        real = services.space_start_scheduled

        def start(*, space_id, armed_for):
            if space_id == broken.pk:
                raise RuntimeError("database hiccup")
            return real(space_id=space_id, armed_for=armed_for)

        monkeypatch.setattr(timekeeping, "space_start_scheduled", start)
        assert services.spaces_due_sweep()["started"] == 1
        assert Space.objects.get(pk=fine.pk).state == "live"
        assert Space.objects.get(pk=broken.pk).state == "scheduled"
        assert f"scheduled Space {broken.pk}" in caplog.text

    def test_a_host_live_elsewhere_makes_the_scheduled_start_wait(self, host):
        services.space_create(host=host, title="Already on air")
        space = overdue(host, 5)
        assert services.spaces_due_sweep()["started"] == 0
        assert Space.objects.get(pk=space.pk).state == "scheduled"


class TestStart:
    def test_a_start_armed_for_an_old_time_is_a_no_op_after_rescheduling(self, host):
        space = soon(host, 60, "Moved")
        old = space.scheduled_for
        services.space_reschedule(space=space, actor=host, scheduled_for=timezone.now() + timedelta(hours=1))
        assert services.space_start_scheduled(space_id=space.pk, armed_for=old) is None
        space.refresh_from_db()
        assert space.state == "scheduled"

    def test_a_cancelled_space_never_starts(self, host):
        space = soon(host, 60, "Off")
        services.space_cancel(space=space, actor=host)
        assert services.space_start_scheduled(space_id=space.pk, armed_for=space.scheduled_for) is None
        assert Space.objects.get(pk=space.pk).state == "cancelled"

    def test_a_space_deleted_after_it_was_armed_is_a_no_op(self, host):
        space = soon(host)
        when = space.scheduled_for
        Space.objects.filter(pk=space.pk).delete()
        assert services.space_start_scheduled(space_id=space.pk, armed_for=when) is None

    def test_the_start_publishes_space_started_and_seats_the_host_as_away(self, host, django_capture_on_commit_callbacks):
        space = soon(host)
        started = start_and_notify(space, django_capture_on_commit_callbacks)
        assert started.state == "live" and started.started_by == "schedule"
        assert started.event_seq == 1
        assert started.participants.get(role="host").left_at == started.started_at


class TestMissed:
    def test_a_space_within_the_late_limit_is_not_marked_missed(self, host):
        space = overdue(host, 30)
        assert services.space_mark_missed(space_id=space.pk) is None
        assert Space.objects.get(pk=space.pk).state == "scheduled"

    def test_marking_missed_publishes_space_missed_once(self, host, django_capture_on_commit_callbacks):

        space = overdue(host, 90)
        host.email = "host@example.com"
        host.save()
        with publisher.capture() as frames, django_capture_on_commit_callbacks(execute=True):
            assert services.space_mark_missed(space_id=space.pk) is not None
            assert services.space_mark_missed(space_id=space.pk) is None
        assert [(f["type"], f["data"]["state"]) for f in frames] == [("space.missed", "missed")]
        space.refresh_from_db()
        assert space.state == "missed" and space.event_seq == 1
        assert [m.to for m in mail.outbox] == [["host@example.com"]]
        assert "could not start on time" in mail.outbox[0].body


class TestReminders:
    def test_reminders_and_the_host_notice_go_out_exactly_once(self, host, django_capture_on_commit_callbacks):
        host.email = "host@example.com"
        host.save()
        space = soon(host, 60, "Show")
        fans = [UserFactory() for _ in range(3)]
        for fan in fans:
            scheduling.reminder_set(space=space, user=fan)
        scheduling.reminder_set(space=space, user=fans[0])  # twice: still one reminder
        start_and_notify(space, django_capture_on_commit_callbacks)
        assert len(mail.outbox) == 4
        with django_capture_on_commit_callbacks(execute=True):
            assert scheduling.space_started_notify(space_id=space.pk) == 0  # a second run tells nobody again
        assert len(mail.outbox) == 4
        assert Notification.objects.filter(space=space, kind="space_started").count() == 3
        assert Notification.objects.filter(space=space, kind="your_space_live", user=host).count() == 1
        assert sorted(m.to[0] for m in mail.outbox) == sorted([host.email] + [f.email for f in fans])
        assert all(space.share_url in m.body for m in mail.outbox)
        assert not Reminder.objects.filter(space=space, sent_at__isnull=True).exists()
        assert not Notification.objects.filter(space=space, emailed_at__isnull=True).exists()

    def test_a_space_its_host_starts_early_reminds_people_but_does_not_notify_the_host(
        self, host, user, django_capture_on_commit_callbacks
    ):
        space = soon(host, 600)
        scheduling.reminder_set(space=space, user=user)
        with django_capture_on_commit_callbacks(execute=True):
            services.space_go_live(space=space, actor=host)
        assert [m.to for m in mail.outbox] == [[user.email]]
        assert not Notification.objects.filter(user=host).exists()

    def test_a_person_without_an_email_address_gets_the_notification_only(self, host, django_capture_on_commit_callbacks):
        fan = UserFactory(email="")
        space = soon(host)
        scheduling.reminder_set(space=space, user=fan)
        host.email = ""
        host.save()
        start_and_notify(space, django_capture_on_commit_callbacks)
        assert mail.outbox == []
        assert Notification.objects.get(user=fan).kind == "space_started"

    def test_many_reminders_are_sent_in_batches_each_once(self, host, monkeypatch, django_capture_on_commit_callbacks):
        monkeypatch.setattr(scheduling, "REMINDER_BATCH", 4)
        space = soon(host)
        fans = [UserFactory() for _ in range(10)]
        for fan in fans:
            scheduling.reminder_set(space=space, user=fan)
        start_and_notify(space, django_capture_on_commit_callbacks)
        assert sorted(m.to[0] for m in mail.outbox if m.to[0] != host.email) == sorted(f.email for f in fans)
        assert Notification.objects.filter(space=space, kind="space_started").count() == 10

    def test_an_ended_space_reminds_nobody(self, host, user):
        space = soon(host)
        scheduling.reminder_set(space=space, user=user)
        services.space_start_scheduled(space_id=space.pk, armed_for=space.scheduled_for)  # callbacks not run
        services.space_end(space=space, actor=host)
        assert scheduling.space_started_notify(space_id=space.pk) == 0
        assert not Notification.objects.filter(user=user).exists()

    def test_a_reminder_cannot_be_set_on_a_live_space(self, host, user):
        space = services.space_create(host=host, title="Live")
        with pytest.raises(InvalidTransition):
            scheduling.reminder_set(space=space, user=user)

    def test_a_removed_reminder_is_not_sent(self, host, user, django_capture_on_commit_callbacks):
        space = soon(host)
        scheduling.reminder_set(space=space, user=user)
        scheduling.reminder_remove(space=space, user=user)
        start_and_notify(space, django_capture_on_commit_callbacks)
        assert not Notification.objects.filter(user=user).exists()


class TestEmail:
    def test_an_email_is_sent_once_however_often_its_task_runs(self, host, user):
        space = services.space_create(host=host, title="Once")
        notification = Notification.objects.create(user=user, space=space, kind="space_started", message="Live")
        assert scheduling.notification_email_send(notification_id=notification.pk) is True
        assert scheduling.notification_email_send(notification_id=notification.pk) is False
        assert len(mail.outbox) == 1
        assert mail.outbox[0].subject == "Spaces: Live"

    def test_a_failing_mail_server_leaves_the_email_pending_for_a_retry(self, host, user, settings):
        space = services.space_create(host=host, title="Retry")
        notification = Notification.objects.create(user=user, space=space, kind="space_started", message="Live")
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 9, 2  # nothing listens
        with pytest.raises(OSError):
            scheduling.notification_email_send(notification_id=notification.pk)
        notification.refresh_from_db()
        assert notification.emailed_at is None
        settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
        assert scheduling.notification_email_send(notification_id=notification.pk) is True

    def test_the_email_task_retries_on_a_mail_server_error(self):
        assert OSError in scheduling_tasks.email_notification_task.autoretry_for

    def test_titles_are_not_html_escaped_in_the_plain_text_email(self, host, user, django_capture_on_commit_callbacks):
        space = soon(host, 60, "Q&A <live>")
        scheduling.reminder_set(space=space, user=user)
        start_and_notify(space, django_capture_on_commit_callbacks)
        body = next(m.body for m in mail.outbox if m.to == [user.email])
        assert "Q&A <live>" in body and "&amp;" not in body
        assert "asked Spaces to remind you" in body


class TestPendingDeliveries:
    def test_reminders_whose_task_was_lost_are_caught_up(self, host, user):
        space = soon(host)
        scheduling.reminder_set(space=space, user=user)
        # Started, but the notify task never reached the broker (no on-commit callbacks run).
        services.space_start_scheduled(space_id=space.pk, armed_for=space.scheduled_for)
        assert scheduling.notifications_deliver_pending() == {"spaces": 0, "emails": 0, "pushes": 0}  # too fresh to call lost
        later = timezone.now() + timedelta(minutes=2)
        assert scheduling.notifications_deliver_pending(now=later)["spaces"] == 1
        assert Notification.objects.filter(user=user, kind="space_started").count() == 1
        assert Notification.objects.filter(user=host, kind="your_space_live").count() == 1
        assert scheduling.notifications_deliver_pending(now=later) == {"spaces": 0, "emails": 0, "pushes": 0}

    def test_emails_whose_task_was_lost_are_caught_up(self, host, user):
        space = services.space_create(host=host, title="Lost email")
        no_address = UserFactory(email="")
        for person in (user, no_address):
            Notification.objects.create(user=person, space=space, kind="space_started", message="Live")
        later = timezone.now() + timedelta(minutes=2)
        assert scheduling.notifications_deliver_pending(now=later) == {"spaces": 0, "emails": 1, "pushes": 0}
        assert [m.to for m in mail.outbox] == [[user.email]]
        assert scheduling.notifications_deliver_pending(now=later)["emails"] == 0


def test_notifications_are_read_once_and_only_by_their_owner(host, user):
    space = overdue(host, 61)
    services.spaces_due_sweep()
    notification = Notification.objects.get(user=host, space=space)
    with pytest.raises(NotFound):
        scheduling.notification_mark_read(user=user, notification_id=notification.pk)
    first = scheduling.notification_mark_read(user=host, notification_id=notification.pk).read_at
    assert first is not None
    assert scheduling.notification_mark_read(user=host, notification_id=notification.pk).read_at == first


def test_the_unread_selector_lists_only_unread_notifications_of_that_person(host, user):
    from scheduling.selectors import notifications_unread

    space = services.space_create(host=host, title="Selector")
    mine = Notification.objects.create(user=user, space=space, kind="space_started", message="a")
    Notification.objects.create(user=host, space=space, kind="space_started", message="b")
    read = Notification.objects.create(user=user, space=space, kind="space_ended", message="c", read_at=timezone.now())
    assert list(notifications_unread(user=user)) == [mine]
    assert scheduling.notifications_mark_all_read(user=user) == 1
    assert list(notifications_unread(user=user)) == []
    assert read.pk in user.notifications.values_list("pk", flat=True)


class TestAbandoned:
    def test_host_and_cohosts_away_longer_than_the_grace_ends_the_space(self, host, settings, django_capture_on_commit_callbacks):
        space = services.space_create(host=host, title="Gone")
        away = timezone.now() - settings.SPACES_HOST_GRACE - timedelta(seconds=1)
        Participant.objects.filter(space=space, role="host").update(left_at=away)
        with django_capture_on_commit_callbacks(execute=True):
            assert services.spaces_abandoned_end() == [space]
        space.refresh_from_db()
        assert space.state == "ended"
        notice = Notification.objects.get(user=host, kind="space_ended")
        assert "no host was in it for 5 minutes" in notice.message
        assert [m.to for m in mail.outbox] == [[host.email]]

    def test_a_present_cohost_keeps_the_space_alive(self, host):
        space = services.space_create(host=host, title="Held")
        cohost = services.space_join(space=space, visitor=Visitor.of(UserFactory()))
        services.participant_set_role(space=space, actor=host, participant=cohost, role="cohost")
        Participant.objects.filter(space=space, role="host").update(left_at=timezone.now() - timedelta(hours=1))
        assert services.spaces_abandoned_end() == []

    def test_cohosts_who_left_too_end_it_after_the_last_one_left_plus_the_grace(self, host):
        space = services.space_create(host=host, title="All gone")
        cohost = services.space_join(space=space, visitor=Visitor.of(UserFactory()))
        services.participant_set_role(space=space, actor=host, participant=cohost, role="cohost")
        now = timezone.now()
        Participant.objects.filter(space=space, role="host").update(left_at=now - timedelta(hours=1))
        Participant.objects.filter(space=space, role="cohost").update(left_at=now - timedelta(minutes=4))
        assert services.spaces_abandoned_end(now=now) == []
        assert services.spaces_abandoned_end(now=now + timedelta(minutes=1, seconds=1)) == [space]

    def test_listeners_do_not_keep_an_abandoned_space_alive(self, host):
        space = services.space_create(host=host, title="Listeners only")
        services.space_join(space=space, visitor=Visitor.of(UserFactory()))
        Participant.objects.filter(space=space, role="host").update(left_at=timezone.now() - timedelta(hours=1))
        assert services.spaces_abandoned_end() == [space]

    def test_a_short_absence_is_not_abandonment(self, host):
        space = services.space_create(host=host, title="Reloading")
        Participant.objects.filter(space=space, role="host").update(left_at=timezone.now() - timedelta(seconds=30))
        assert services.spaces_abandoned_end() == []

    def test_a_scheduled_start_whose_host_never_came_ends_after_15_minutes(self, host):
        space = overdue(host, 5)
        services.spaces_due_sweep()
        space.refresh_from_db()
        assert space.participants.get(role="host").left_at == space.started_at  # seated, but not here
        # 10 minutes in: longer than the 5-minute grace, but a host who never came gets 15.
        assert services.spaces_abandoned_end(now=space.started_at + timedelta(minutes=10)) == []
        assert services.spaces_abandoned_end(now=space.started_at + timedelta(minutes=16)) == [space]
        space.refresh_from_db()
        assert space.state == "ended"
        assert "did not come within 15 minutes" in Notification.objects.get(user=host, kind="space_ended").message

    def test_a_host_who_came_and_left_gets_the_ordinary_grace(self, host):
        space = overdue(host, 1)
        services.spaces_due_sweep()
        space.refresh_from_db()
        host_p = services.space_join(space=space, visitor=Visitor.of(host))
        services.space_leave(space=space, participant=host_p)
        left_at = Participant.objects.get(pk=host_p.pk).left_at
        assert services.spaces_abandoned_end(now=left_at + timedelta(minutes=4)) == []
        assert services.spaces_abandoned_end(now=left_at + timedelta(minutes=6)) == [space]

    def test_a_host_who_arrives_is_present(self, host):
        space = overdue(host, 1)
        services.spaces_due_sweep()
        space.refresh_from_db()
        services.space_join(space=space, visitor=Visitor.of(host))
        assert space.participants.get(role="host").left_at is None
        assert services.spaces_abandoned_end(now=timezone.now() + timedelta(hours=1)) == []

    def test_a_host_who_rejoined_after_the_candidates_were_read_is_seen_under_the_lock(self, host):
        space = services.space_create(host=host, title="Back just in time")
        Participant.objects.filter(space=space, role="host").update(left_at=timezone.now() - timedelta(hours=1))
        services.space_join(space=space, visitor=Visitor.of(host))
        assert services.space_end_if_abandoned(space_id=space.pk) is None
        assert Space.objects.get(pk=space.pk).state == "live"

    def test_ending_is_announced_with_its_reason(self, host, django_capture_on_commit_callbacks):

        space = services.space_create(host=host, title="Reason")
        Participant.objects.filter(space=space, role="host").update(left_at=timezone.now() - timedelta(hours=1))
        with publisher.capture() as frames, django_capture_on_commit_callbacks(execute=True):
            services.space_end_if_abandoned(space_id=space.pk)
        ended = [f for f in frames if f["type"] == "space.ended"]
        assert len(ended) == 1 and ended[0]["data"]["reason"] == "abandoned"


class TestDaylightSaving:
    def test_a_space_scheduled_across_the_end_of_summer_time_starts_at_the_right_instant(self, host, armed, monkeypatch):
        """Set on 24 October 2026 (CEST, UTC+2) for 18:00 Berlin time on 26 October (CET, UTC+1):
        stored as 17:00 UTC, armed just before that instant and started just after it."""
        monkeypatch.setattr(timezone, "now", lambda: datetime(2026, 10, 24, 12, 0, tzinfo=UTC))
        when = datetime(2026, 10, 26, 18, 0, tzinfo=ZoneInfo("Europe/Berlin"))
        space = services.space_create(host=host, title="After the change", scheduled_for=when)
        space.refresh_from_db()
        assert space.scheduled_for == datetime(2026, 10, 26, 17, 0, tzinfo=UTC)

        assert services.spaces_due_sweep(now=datetime(2026, 10, 26, 16, 58, tzinfo=UTC))["armed"] == 0
        assert services.spaces_due_sweep(now=datetime(2026, 10, 26, 16, 59, 30, tzinfo=UTC))["armed"] == 1
        assert [eta for _, eta in armed] == [datetime(2026, 10, 26, 17, 0, tzinfo=UTC)]
        monkeypatch.setattr(timezone, "now", lambda: datetime(2026, 10, 26, 17, 0, 1, tzinfo=UTC))
        assert services.spaces_due_sweep(now=datetime(2026, 10, 26, 17, 0, 1, tzinfo=UTC))["started"] == 1

    def test_a_space_in_the_repeated_hour_keeps_the_offset_it_was_given(self, host, monkeypatch):
        """01:30 on 1 November 2026 happens twice in New York; the offset picks which."""
        monkeypatch.setattr(timezone, "now", lambda: datetime(2026, 10, 31, 12, 0, tzinfo=UTC))
        first = datetime(2026, 11, 1, 1, 30, tzinfo=ZoneInfo("America/New_York"), fold=0)  # EDT, UTC-4
        second = datetime(2026, 11, 1, 1, 30, tzinfo=ZoneInfo("America/New_York"), fold=1)  # EST, UTC-5
        space = services.space_create(host=host, title="Twice", scheduled_for=first)
        assert space.scheduled_for == datetime(2026, 11, 1, 5, 30, tzinfo=UTC)
        space = services.space_reschedule(space=space, actor=host, scheduled_for=second)
        assert space.scheduled_for == datetime(2026, 11, 1, 6, 30, tzinfo=UTC)

    def test_a_sweep_across_the_start_of_summer_time_arms_by_real_elapsed_time(self, host, armed, monkeypatch):
        """Berlin skips 02:00-03:00 on 29 March 2026. A Space at 03:30 CEST (01:30 UTC) is 40
        minutes after 01:50 CET (00:50 UTC) although the wall clocks differ by 1 h 40."""
        monkeypatch.setattr(timezone, "now", lambda: datetime(2026, 3, 28, 12, 0, tzinfo=UTC))
        berlin = ZoneInfo("Europe/Berlin")
        space = services.space_create(
            host=host, title="Spring", scheduled_for=datetime(2026, 3, 29, 3, 30, tzinfo=berlin)
        )
        assert space.scheduled_for == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
        assert services.spaces_due_sweep(now=datetime(2026, 3, 29, 1, 50, tzinfo=berlin))["armed"] == 0
        assert services.spaces_due_sweep(now=datetime(2026, 3, 29, 3, 29, 15, tzinfo=berlin))["armed"] == 1
        assert [eta for _, eta in armed] == [datetime(2026, 3, 29, 1, 30, tzinfo=UTC)]

    def test_the_late_limit_is_an_hour_of_real_time_across_the_end_of_summer_time(self, host):
        """Scheduled 01:30 EDT on 1 November 2026 (05:30 UTC); at 01:15 EST (06:15 UTC), 45 real
        minutes later although the wall clock went back, it starts late rather than being missed."""
        new_york = ZoneInfo("America/New_York")
        when = datetime(2026, 11, 1, 1, 30, tzinfo=new_york, fold=0)
        space = SpaceFactory(host=host, scheduled=True, scheduled_for=when, scheduled_on=when - timedelta(days=1))
        assert services.space_mark_missed(space_id=space.pk, now=datetime(2026, 11, 1, 1, 15, tzinfo=new_york, fold=1)) is None
        assert services.space_mark_missed(space_id=space.pk, now=datetime(2026, 11, 1, 1, 31, tzinfo=new_york, fold=1)) is not None
