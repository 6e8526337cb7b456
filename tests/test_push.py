"""Web Push: browsers subscribe through the API, and each notification reaches each subscribed
browser once, encrypted for it (aes128gcm) and signed with the server's VAPID key. The browser
here is a local HTTP receiver with its own key pair and auth secret that decrypts what arrives."""

import base64
import json
import stat

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from rooms import services
from scheduling import push
from scheduling import services as scheduling
from scheduling import subscriptions
from scheduling.models import Notification, PushSubscription

from .factories import UserFactory
from .pushreceiver import PushReceiver

pytestmark = pytest.mark.django_db


@pytest.fixture
def vapid(settings):
    keys = push.vapid_keys_generate()
    settings.VAPID_PUBLIC_KEY, settings.VAPID_PRIVATE_KEY = keys.public, keys.private
    settings.VAPID_SUBJECT = "mailto:ops@example.org"
    settings.WEBPUSH_ALLOW_LOCAL_ENDPOINTS = True
    return keys


@pytest.fixture
def receiver():
    server = PushReceiver()
    yield server
    server.close()


def subscribe(client, browser):
    return client.post("/api/push/subscriptions/", browser.subscription, format="json")


def notice(user, space, kind="space_started", message="“Morning show” is live now."):
    return Notification.objects.create(user=user, space=space, kind=kind, message=message)


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def test_a_subscribed_browser_decrypts_the_reminder_signed_with_the_servers_vapid_key(
    vapid, receiver, client_for, user, live_space
):
    browser = receiver.browser("phone")
    response = subscribe(client_for(user), browser)
    assert response.status_code == 201, response.json()
    notification = notice(user, live_space)

    assert scheduling.notification_push_send(notification_id=notification.pk) == 1

    [message] = receiver.to(browser)
    assert browser.decrypt(message) == {
        "title": "Morning show",
        "body": "“Morning show” is live now.",
        "url": live_space.share_url,
        "tag": f"space-{live_space.code}",
        "kind": "space_started",
    }
    assert int(message.headers["ttl"]) > 0
    # Authorization: vapid t=<JWT signed ES256 by the server's key>, k=<its public key>
    scheme, params = message.headers["authorization"].split(" ", 1)
    fields = dict(part.strip().split("=", 1) for part in params.split(","))
    assert scheme == "vapid" and fields["k"] == vapid.public
    header, claims, signature = fields["t"].split(".")
    assert json.loads(b64url_decode(claims))["aud"] == receiver.origin
    raw = b64url_decode(signature)
    public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b64url_decode(vapid.public))
    public.verify(
        encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")),
        f"{header}.{claims}".encode(),
        ec.ECDSA(hashes.SHA256()),
    )
    assert Notification.objects.get(pk=notification.pk).pushed_at is not None


def test_a_notification_is_pushed_once_to_each_browser_however_often_its_task_runs(
    vapid, receiver, client_for, user, live_space
):
    laptop, phone = receiver.browser("laptop"), receiver.browser("phone")
    for browser in (laptop, phone):
        assert subscribe(client_for(user), browser).status_code == 201
    notification = notice(user, live_space)
    assert scheduling.notification_push_send(notification_id=notification.pk) == 2
    assert scheduling.notification_push_send(notification_id=notification.pk) == 0
    assert len(receiver.to(laptop)) == 1 and len(receiver.to(phone)) == 1


def test_a_gone_subscription_is_deleted_and_the_others_still_get_it(vapid, receiver, client_for, user, live_space):
    gone, kept = receiver.browser("gone"), receiver.browser("kept")
    for browser in (gone, kept):
        assert subscribe(client_for(user), browser).status_code == 201
    receiver.status["/push/gone"] = 410
    notification = notice(user, live_space)
    assert scheduling.notification_push_send(notification_id=notification.pk) == 1
    assert list(PushSubscription.objects.values_list("endpoint", flat=True)) == [kept.endpoint]
    assert Notification.objects.get(pk=notification.pk).pushed_at is not None


def test_a_push_service_that_fails_is_retried_without_pushing_twice_to_the_others(
    vapid, receiver, client_for, user, live_space
):
    failing, fine = receiver.browser("failing"), receiver.browser("fine")
    for browser in (failing, fine):
        assert subscribe(client_for(user), browser).status_code == 201
    receiver.status["/push/failing"] = 503
    notification = notice(user, live_space)
    with pytest.raises(push.PushFailed):
        scheduling.notification_push_send(notification_id=notification.pk)
    assert Notification.objects.get(pk=notification.pk).pushed_at is None
    del receiver.status["/push/failing"]
    assert scheduling.notification_push_send(notification_id=notification.pk) == 1
    assert len(receiver.to(failing)) == 1 and len(receiver.to(fine)) == 1


def test_an_obsolete_notification_is_not_pushed(vapid, receiver, client_for, user, live_space):
    browser = receiver.browser("phone")
    assert subscribe(client_for(user), browser).status_code == 201
    notification = notice(user, live_space)
    services.space_end(space=live_space, actor=live_space.host)
    assert scheduling.notification_push_send(notification_id=notification.pk) == 0
    assert receiver.to(browser) == []


def test_a_reminder_reaches_a_subscribed_browser_when_the_space_starts(
    vapid, receiver, client_for, user, host, django_capture_on_commit_callbacks
):
    from datetime import timedelta

    from django.utils import timezone

    space = services.space_create(host=host, title="Evening", scheduled_for=timezone.now() + timedelta(hours=1))
    scheduling.reminder_set(space=space, user=user)
    browser = receiver.browser("phone")
    assert subscribe(client_for(user), browser).status_code == 201
    with django_capture_on_commit_callbacks(execute=True):
        services.space_go_live(space=space, actor=host)
    [message] = receiver.to(browser)
    assert browser.decrypt(message)["body"] == "“Evening” by host is live now."


class TestSubscribing:
    def test_signing_in_is_required(self, vapid, receiver, api):
        response = subscribe(api, receiver.browser("x"))
        assert response.status_code == 401

    def test_the_push_settings_give_the_public_key(self, vapid, client_for, user):
        assert client_for(user).get("/api/push/").json() == {
            "enabled": True, "public_key": vapid.public, "subscriptions": 0,
        }

    def test_without_keys_push_is_off_and_subscribing_says_so(self, settings, receiver, client_for, user):
        settings.VAPID_PUBLIC_KEY = settings.VAPID_PRIVATE_KEY = ""
        settings.DEBUG = False
        assert client_for(user).get("/api/push/").json()["enabled"] is False
        response = subscribe(client_for(user), receiver.browser("x"))
        assert response.status_code == 409 and response.json()["code"] == "push_unavailable"

    @pytest.mark.parametrize(
        "endpoint",
        [
            "http://push.example.com/x",
            "https://127.0.0.1/x",
            "https://10.0.0.8/x",
            "https://[::1]/x",
            "https://localhost/x",
            "https://user:pw@push.example.com/x",
            "not a url",
        ],
    )
    def test_an_endpoint_that_is_not_a_public_https_url_is_refused(self, vapid, settings, receiver, client_for, user, endpoint):
        settings.WEBPUSH_ALLOW_LOCAL_ENDPOINTS = False
        body = {**receiver.browser("x").subscription, "endpoint": endpoint}
        response = client_for(user).post("/api/push/subscriptions/", body, format="json")
        assert response.status_code == 400 and response.json()["code"] == "invalid_push_endpoint"
        assert not PushSubscription.objects.exists()

    def test_a_public_https_endpoint_is_taken(self, vapid, settings, receiver, client_for, user):
        settings.WEBPUSH_ALLOW_LOCAL_ENDPOINTS = False
        body = {**receiver.browser("x").subscription, "endpoint": "https://fcm.googleapis.com/fcm/send/abc"}
        assert client_for(user).post("/api/push/subscriptions/", body, format="json").status_code == 201

    @pytest.mark.parametrize("bad", [{"p256dh": "AAAA"}, {"p256dh": "not base64!"}, {"auth": "c2hvcnQ"}])
    def test_keys_that_cannot_encrypt_are_refused(self, vapid, receiver, client_for, user, bad):
        browser = receiver.browser("x")
        body = {"endpoint": browser.endpoint, "keys": {**browser.keys, **bad}}
        response = client_for(user).post("/api/push/subscriptions/", body, format="json")
        assert response.status_code == 400 and response.json()["code"] == "invalid_push_key"
        assert not PushSubscription.objects.exists()

    def test_the_same_browser_signed_in_as_someone_else_moves_to_them(self, vapid, receiver, client_for, user):
        browser = receiver.browser("shared")
        other = UserFactory()
        assert subscribe(client_for(user), browser).status_code == 201
        assert subscribe(client_for(other), browser).status_code == 201
        assert list(PushSubscription.objects.values_list("user", flat=True)) == [other.pk]

    def test_unsubscribing_forgets_only_your_own_browser(self, vapid, receiver, client_for, user):
        browser = receiver.browser("mine")
        assert subscribe(client_for(user), browser).status_code == 201
        other = client_for(UserFactory())
        assert other.post("/api/push/subscriptions/remove/", {"endpoint": browser.endpoint}, format="json").status_code == 204
        assert PushSubscription.objects.count() == 1
        mine = client_for(user).post("/api/push/subscriptions/remove/", {"endpoint": browser.endpoint}, format="json")
        assert mine.status_code == 204 and not PushSubscription.objects.exists()

    def test_past_ten_browsers_the_oldest_is_forgotten(self, vapid, receiver, client_for, user):
        browsers = [receiver.browser(f"b{i}") for i in range(subscriptions.PUSH_SUBSCRIPTIONS_MAX + 1)]
        for browser in browsers:
            assert subscribe(client_for(user), browser).status_code == 201
        endpoints = set(PushSubscription.objects.values_list("endpoint", flat=True))
        assert endpoints == {b.endpoint for b in browsers[1:]}


def test_a_local_run_makes_its_vapid_keys_once_and_keeps_them(settings, tmp_path):
    settings.VAPID_PUBLIC_KEY = settings.VAPID_PRIVATE_KEY = ""
    settings.DEBUG = True
    settings.VAR_DIR = tmp_path
    push._local_keys.cache_clear()
    first = push.vapid_keys()
    push._local_keys.cache_clear()
    assert push.vapid_keys() == first
    assert stat.S_IMODE((tmp_path / "vapid.json").stat().st_mode) == 0o600
    assert len(b64url_decode(first.public)) == 65 and len(b64url_decode(first.private)) == 32
    push._local_keys.cache_clear()


def test_the_install_makes_a_vapid_key_pair_once_and_a_worker_can_sign_with_it(tmp_path, settings, receiver, client_for, user, live_space):
    from .test_deploy import DOMAIN, PUBLIC_IP, install, read_settings, settings_file

    install(tmp_path, "--render-only", DOMAIN, "--public-ip", PUBLIC_IP)
    written = read_settings(tmp_path)
    public, private = b64url_decode(written["VAPID_PUBLIC_KEY"]), b64url_decode(written["VAPID_PRIVATE_KEY"])
    key = ec.derive_private_key(int.from_bytes(private, "big"), ec.SECP256R1())
    assert key.public_key().public_bytes(
        push.serialization.Encoding.X962, push.serialization.PublicFormat.UncompressedPoint
    ) == public
    assert written["VAPID_SUBJECT"] == f"mailto:spaces@{DOMAIN}"
    # An upgrade keeps the pair (browsers' subscriptions are bound to it) ...
    install(tmp_path, "--render-only")
    assert read_settings(tmp_path)["VAPID_PRIVATE_KEY"] == written["VAPID_PRIVATE_KEY"]
    # ... and half a pair is refused, not silently replaced.
    lines = settings_file(tmp_path).read_text().splitlines()
    settings_file(tmp_path).write_text("\n".join(x for x in lines if not x.startswith("VAPID_PUBLIC_KEY=")) + "\n")
    refused = install(tmp_path, "--render-only", check=False)
    assert refused.returncode != 0 and "VAPID_PUBLIC_KEY and VAPID_PRIVATE_KEY" in refused.stderr

    settings.VAPID_PUBLIC_KEY, settings.VAPID_PRIVATE_KEY = written["VAPID_PUBLIC_KEY"], written["VAPID_PRIVATE_KEY"]
    settings.WEBPUSH_ALLOW_LOCAL_ENDPOINTS = True
    browser = receiver.browser("installed")
    assert subscribe(client_for(user), browser).status_code == 201
    assert scheduling.notification_push_send(notification_id=notice(user, live_space).pk) == 1
    [message] = receiver.to(browser)
    assert f"k={written['VAPID_PUBLIC_KEY']}" in message.headers["authorization"]
