"""Reminders reach people 10 minutes before and when a Space starts, once each per channel: in
the app, by email (through a real SMTP server, aiosmtpd, as the sink) and by Web Push (to a local
receiver that decrypts what arrives). Notices whose news stopped being true are marked obsolete.
The end-to-end test runs two real Celery workers and a real beat on real Redis and PostgreSQL."""

import os
import threading
import time
import uuid
from datetime import timedelta
from email import message_from_bytes, policy

import pytest
import redis
from aiosmtpd.controller import Controller
from django.core import mail
from django.utils import timezone

from rooms import services
from rooms.models import Space
from scheduling import push
from scheduling import services as scheduling
from scheduling import subscriptions
from scheduling.models import Notification

from .conftest import require
from .factories import UserFactory
from .processes import free_port, test_database_url, wait_for
from .pushreceiver import PushReceiver

BROKER = os.environ.get("TEST_REMINDERS_BROKER_URL", "redis://127.0.0.1:6379/12")


def scheduled(host, *, seconds: float, title: str = "Evening") -> Space:
    return services.space_create(host=host, title=title, scheduled_for=timezone.now() + timedelta(seconds=seconds))


@pytest.mark.django_db
class TestStartsSoon:
    def test_people_with_reminders_are_told_10_minutes_before_once(self, host, settings, django_capture_on_commit_callbacks):
        space = scheduled(host, seconds=9 * 60 + 30)
        fans = [UserFactory() for _ in range(3)]
        for fan in fans:
            scheduling.reminder_set(space=space, user=fan)
        with django_capture_on_commit_callbacks(execute=True):
            assert scheduling.reminders_soon_send() == 3
        assert scheduling.reminders_soon_send() == 0
        notices = Notification.objects.filter(space=space, kind="space_soon")
        assert sorted(n.user_id for n in notices) == sorted(f.pk for f in fans)
        assert {n.message for n in notices} == {"“Evening” by host starts in 10 minutes."}
        assert sorted(m.to[0] for m in mail.outbox) == sorted(f.email for f in fans)
        assert "remind you" in mail.outbox[0].body and "/accounts/profile/" in mail.outbox[0].body

    def test_a_space_further_out_is_not_yet_announced(self, host):
        space = scheduled(host, seconds=11 * 60)
        scheduling.reminder_set(space=space, user=UserFactory())
        assert scheduling.reminders_soon_send() == 0

    def test_a_space_about_to_start_gets_only_its_live_reminder(self, host):
        """Before: a Space due in seconds sent "starts in 1 minute" and "is live now" together."""
        space = scheduled(host, seconds=20)
        scheduling.reminder_set(space=space, user=UserFactory())
        assert scheduling.reminders_soon_send() == 0

    def test_a_reminder_set_after_the_early_round_still_gets_it(self, host):
        space = scheduled(host, seconds=5 * 60)
        scheduling.reminder_set(space=space, user=UserFactory())
        assert scheduling.reminders_soon_send() == 1
        late = UserFactory()
        scheduling.reminder_set(space=space, user=late)
        assert scheduling.reminders_soon_send() == 1
        assert Notification.objects.get(user=late, kind="space_soon").message.endswith("starts in 5 minutes.")

    def test_both_reminders_go_out_once_each(self, host, django_capture_on_commit_callbacks):
        space = scheduled(host, seconds=60)
        fan = UserFactory()
        scheduling.reminder_set(space=space, user=fan)
        with django_capture_on_commit_callbacks(execute=True):
            scheduling.reminders_soon_send()
        with django_capture_on_commit_callbacks(execute=True):
            services.space_start_scheduled(space_id=space.pk, armed_for=space.scheduled_for)
        with django_capture_on_commit_callbacks(execute=True):
            scheduling.space_started_notify(space_id=space.pk)
        subjects = sorted(m.subject for m in mail.outbox if m.to == [fan.email])
        assert subjects == ["Spaces: “Evening” by host is live now.", "Spaces: “Evening” by host starts in 1 minute."]


@pytest.mark.django_db
class TestObsoleteNotices:
    def live_notice(self, host, fan, django_capture_on_commit_callbacks):
        space = scheduled(host, seconds=60)
        scheduling.reminder_set(space=space, user=fan)
        scheduling.reminders_soon_send()
        with django_capture_on_commit_callbacks(execute=True):
            services.space_start_scheduled(space_id=space.pk, armed_for=space.scheduled_for)
        return space

    def test_a_live_now_notice_does_not_outlive_the_space(self, host, user, client, django_capture_on_commit_callbacks):
        space = self.live_notice(host, user, django_capture_on_commit_callbacks)
        client.force_login(user)
        assert "is live now" in client.get("/dashboard/").content.decode()
        services.space_end(space=space, actor=host)
        notice = Notification.objects.get(user=user, kind="space_started")
        assert notice.obsolete_at is not None and notice.read_at is not None
        page = client.get("/dashboard/").content.decode()
        assert "is live now" not in page and "unread notifications" not in page
        assert client.get("/api/notifications/").json()["results"] == []

    def test_the_hosts_your_space_is_live_notice_goes_too(self, host, user, django_capture_on_commit_callbacks):
        space = self.live_notice(host, user, django_capture_on_commit_callbacks)
        assert Notification.objects.filter(user=host, kind="your_space_live", obsolete_at__isnull=True).exists()
        services.space_end(space=space, actor=host)
        assert not Notification.objects.filter(space=space, obsolete_at__isnull=True).exists()

    def test_starts_soon_is_obsolete_once_it_is_live(self, host, user, django_capture_on_commit_callbacks):
        space = self.live_notice(host, user, django_capture_on_commit_callbacks)
        assert Notification.objects.get(user=user, space=space, kind="space_soon").obsolete_at is not None
        assert Notification.objects.get(user=user, space=space, kind="space_started").obsolete_at is None

    def test_starts_soon_is_obsolete_when_the_space_is_cancelled(self, host, user):
        space = scheduled(host, seconds=120)
        scheduling.reminder_set(space=space, user=user)
        scheduling.reminders_soon_send()
        services.space_cancel(space=space, actor=host)
        notice = Notification.objects.get(user=user, kind="space_soon")
        assert notice.obsolete_at is not None and notice.read_at is not None

    def test_an_obsolete_notice_is_not_emailed_late(self, host, user):
        space = services.space_create(host=host, title="Short")
        notice = Notification.objects.create(user=user, space=space, kind="space_started", message="live")
        services.space_end(space=space, actor=host)
        assert scheduling.notification_email_send(notification_id=notice.pk) is False
        assert mail.outbox == []
        later = timezone.now() + timedelta(minutes=2)
        assert scheduling.notifications_deliver_pending(now=later)["emails"] == 0

    def test_the_systems_own_ended_notice_stays(self, host, settings):
        space = services.space_create(host=host, title="Left alone")
        services.space_end(space=space, reason="abandoned", limit=settings.SPACES_HOST_GRACE)
        notice = Notification.objects.get(user=host, space=space, kind="space_ended")
        assert notice.obsolete_at is None and notice.read_at is None


# --- End to end: real workers, beat, SMTP server and push receiver ---------------------------------


class SMTPSink:
    """A real SMTP server (aiosmtpd) on loopback that keeps every message it accepts."""

    def __init__(self):
        self.messages = []
        self.lock = threading.Lock()
        sink = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                with sink.lock:
                    sink.messages.append((list(envelope.rcpt_tos), message_from_bytes(envelope.content, policy=policy.default)))
                return "250 Message accepted"

        self.port = free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def to(self, address):
        with self.lock:
            return [m for rcpt, m in self.messages if address in rcpt]

    def close(self):
        self.controller.stop()


@pytest.fixture
def smtp():
    sink = SMTPSink()
    yield sink
    sink.close()


@pytest.fixture
def receiver():
    server = PushReceiver()
    yield server
    server.close()


@pytest.fixture
def workers(tmp_path, transactional_db, smtp, settings):
    from .test_celery_worker import Celery

    try:
        redis.Redis.from_url(BROKER).flushdb()
        reachable = True
    except redis.ConnectionError:
        reachable = False
    require(reachable, "Redis is needed for the Celery tests")
    keys = push.vapid_keys_generate()
    settings.VAPID_PUBLIC_KEY, settings.VAPID_PRIVATE_KEY = keys.public, keys.private
    settings.WEBPUSH_ALLOW_LOCAL_ENDPOINTS = True
    env = {
        **os.environ,
        "DATABASE_URL": test_database_url(),
        "CELERY_BROKER_URL": BROKER,
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": str(smtp.port),
        "EMAIL_USE_TLS": "0",
        "VAPID_PUBLIC_KEY": keys.public,
        "VAPID_PRIVATE_KEY": keys.private,
        "SPACES_REMIND_BEFORE": "10",
        "SPACES_SWEEP_INTERVAL": "1",
        "CHANNEL_PREFIX": f"reminders-test-{uuid.uuid4().hex[:6]}",
        "WORKER_LOG_DIR": str(tmp_path),
    }
    processes = []

    def start(name):
        processes.append(
            Celery(name, env, "worker", "--concurrency", "1", "--without-gossip", "--without-mingle",
                   "-n", f"{name}@%h", ready_line="ready.")
        )

    def beat():
        processes.append(Celery("beat", env, "beat", "--schedule", str(tmp_path / "beat"), ready_line="beat: Starting"))

    yield type("Workers", (), {"start": staticmethod(start), "beat": staticmethod(beat)})
    for process in processes:
        process.stop()


@pytest.mark.django_db(transaction=True)
def test_reminders_reach_people_by_email_and_push_once_each_before_and_at_the_start(workers, smtp, receiver):
    workers.start("w1")
    workers.start("w2")
    host = UserFactory(username="host", email="host@example.com")
    space = scheduled(host, seconds=14, title="Launch")
    fans = [UserFactory(email=f"fan{i}@example.com") for i in range(2)]
    quiet = UserFactory(email="")  # no address: in the app and by push only
    browsers = {}
    for person in [*fans, quiet]:
        scheduling.reminder_set(space=space, user=person)
        browser = receiver.browser(person.username)
        subscriptions.push_subscribe(user=person, endpoint=browser.endpoint, **browser.keys)
        browsers[person.pk] = browser
    workers.beat()

    def subjects(person):
        return sorted(" ".join(str(m["Subject"]).split()) for m in smtp.to(person.email))

    # 10 s before its start: "starts soon", by email and push.
    soon_subject = "Spaces: “Launch” by host starts in 1 minute."
    assert wait_for(lambda: all(subjects(f) == [soon_subject] for f in fans), timeout=10), [subjects(f) for f in fans]
    assert Space.objects.get(pk=space.pk).state == "scheduled"
    assert wait_for(lambda: all(len(receiver.to(b)) == 1 for b in browsers.values()), timeout=5)
    for browser in browsers.values():
        assert browser.decrypt(receiver.to(browser)[0])["kind"] == "space_soon"

    # At its start: "live now", once more each.
    live_subject = "Spaces: “Launch” by host is live now."
    assert wait_for(lambda: all(subjects(f) == sorted([soon_subject, live_subject]) for f in fans), timeout=12)
    assert wait_for(lambda: all(len(receiver.to(b)) == 2 for b in browsers.values()), timeout=5)
    for person in [*fans, quiet]:
        payload = browsers[person.pk].decrypt(receiver.to(browsers[person.pk])[1])
        assert payload["kind"] == "space_started" and payload["url"] == space.share_url
    assert wait_for(lambda: len(smtp.to(host.email)) == 1, timeout=5)

    # The beat keeps ticking on two workers: nothing goes out twice.
    time.sleep(2)
    assert all(len(subjects(f)) == 2 for f in fans)
    assert all(len(receiver.to(b)) == 2 for b in browsers.values())
    assert len(smtp.to(host.email)) == 1
    assert Notification.objects.filter(space=space, kind__in=["space_soon", "space_started"]).count() == 6
    assert not Notification.objects.filter(space=space, user__in=fans, emailed_at__isnull=True, obsolete_at__isnull=True).exists()
