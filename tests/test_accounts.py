"""Accounts: an optional email address at sign-up and on the profile, password resets by email,
the header saying who is signed in; and the API docs served from the app itself."""

import re
from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest
from django.contrib.auth import get_user_model
from django.core import mail

from rooms import services
from scheduling import services as scheduling

from .factories import UserFactory

pytestmark = pytest.mark.django_db
User = get_user_model()
PASSWORD = "a-long-passphrase-42"


def sign_up(client, **fields):
    return client.post(
        "/accounts/signup/", {"username": "newcomer", "password1": PASSWORD, "password2": PASSWORD, **fields}
    )


class TestSignUp:
    def test_an_email_address_is_optional(self, client):
        assert sign_up(client).status_code == 302
        assert User.objects.get(username="newcomer").email == ""

    def test_the_email_address_is_kept_with_its_domain_in_lower_case(self, client):
        assert sign_up(client, email="  Ada@Example.ORG ").status_code == 302
        assert User.objects.get(username="newcomer").email == "Ada@example.org"

    def test_a_malformed_address_is_a_form_error(self, client):
        response = sign_up(client, email="ada@")
        assert "Enter a valid email address" in response.content.decode()
        assert not User.objects.filter(username="newcomer").exists()

    def test_an_address_another_account_uses_is_refused(self, client):
        UserFactory(email="ada@example.org")
        response = sign_up(client, email="ADA@example.org")
        assert "Another account uses this email address" in response.content.decode()
        assert not User.objects.filter(username="newcomer").exists()

    def test_the_form_asks_for_the_address_with_its_purpose(self, client):
        page = client.get("/accounts/signup/").content.decode()
        assert 'type="email"' in page and "reminders by email" in page


class TestHeader:
    def test_it_says_who_is_signed_in_and_signs_out_with_a_post_form(self, client, user):
        client.force_login(user)
        page = client.get("/").content.decode()
        assert f"Signed in as <strong>{user.username}</strong>" in page
        assert re.search(r'<form method="post" action="/accounts/logout/"[^>]*>.*?<button type="submit"[^>]*>Sign out</button>', page, re.S)
        assert 'href="/accounts/profile/"' in page

    def test_signed_out_it_offers_sign_in_and_sign_up(self, client):
        page = client.get("/").content.decode()
        assert "Signed in as" not in page and "/accounts/signup/" in page


class TestProfile:
    def test_signing_in_is_required(self, client):
        response = client.get("/accounts/profile/")
        assert response.status_code == 302 and response.url.startswith("/accounts/login/")

    def test_it_shows_the_address_the_reminders_and_the_channels(self, client, user, host):
        space = services.space_create(host=host, title="Upcoming", scheduled_for=_in(hours=2))
        scheduling.reminder_set(space=space, user=user)
        client.force_login(user)
        page = client.get("/accounts/profile/").content.decode()
        assert f'value="{user.email}"' in page
        assert "Upcoming" in page and space.get_absolute_url() in page
        assert f"by email to <strong>{user.email}</strong>" in page
        assert 'id="push-on"' in page and "js/profile.js" in page

    def test_changing_the_address(self, client, user):
        client.force_login(user)
        response = client.post("/accounts/profile/", {"email": "new@example.org"})
        assert response.status_code == 302
        user.refresh_from_db()
        assert user.email == "new@example.org"
        assert "Your email address is now new@example.org." in client.get("/accounts/profile/").content.decode()

    def test_an_empty_address_removes_it(self, client, user):
        client.force_login(user)
        assert client.post("/accounts/profile/", {"email": ""}).status_code == 302
        user.refresh_from_db()
        assert user.email == ""

    @pytest.mark.parametrize(
        "email, error",
        [("not-an-address", "Enter a valid email address"), ("taken@example.org", "Another account uses this email address")],
    )
    def test_a_bad_address_is_a_400_with_the_reason_next_to_the_field(self, client, user, email, error):
        UserFactory(email="taken@example.org")
        client.force_login(user)
        response = client.post("/accounts/profile/", {"email": email})
        assert response.status_code == 400
        assert error in response.content.decode() and 'id="id_email-errors"' in response.content.decode()
        old = user.email
        user.refresh_from_db()
        assert user.email == old


class TestPasswordReset:
    def test_the_sign_in_page_links_to_it(self, client):
        assert 'href="/accounts/password/reset/"' in client.get("/accounts/login/").content.decode()

    def test_a_reset_link_by_email_sets_a_new_password(self, client):
        person = UserFactory(username="forgetful", email="forgetful@example.org")
        response = client.post("/accounts/password/reset/", {"email": "Forgetful@example.org"}, HTTP_HOST="127.0.0.1")
        assert response.status_code == 302 and response.url == "/accounts/password/reset/sent/"
        [message] = mail.outbox
        assert message.to == ["forgetful@example.org"] and message.subject == "Spaces: reset your password"
        link = re.search(r"http://127\.0\.0\.1(/accounts/password/reset/\S+/)", message.body).group(1)
        form = client.get(link, follow=True)
        assert "Choose a new password" in form.content.decode()
        done = client.post(form.redirect_chain[-1][0], {"new_password1": PASSWORD, "new_password2": PASSWORD})
        assert done.status_code == 302 and done.url == "/accounts/password/reset/done/"
        person.refresh_from_db()
        assert person.check_password(PASSWORD)
        assert "This link no longer works" in client.get(link, follow=True).content.decode()

    def test_an_unknown_address_looks_the_same_and_sends_nothing(self, client):
        response = client.post("/accounts/password/reset/", {"email": "nobody@example.org"})
        assert response.status_code == 302 and response.url == "/accounts/password/reset/sent/"
        assert mail.outbox == []

    def test_a_malformed_address_is_a_form_error(self, client):
        response = client.post("/accounts/password/reset/", {"email": "nobody@"})
        assert "Enter a valid email address" in response.content.decode()


class _Assets(HTMLParser):
    def __init__(self):
        super().__init__()
        self.urls = []

    def handle_starttag(self, tag, attrs):
        self.urls += [value for name, value in attrs if name in ("src", "href") and value]


def test_the_api_docs_load_everything_from_the_app_itself(client):
    response = client.get("/api/docs/")
    assert response.status_code == 200
    page = response.content.decode()
    assets = _Assets()
    assets.feed(page)
    assert assets.urls, page
    for url in assets.urls:
        assert not urlsplit(url).netloc and not url.startswith("//"), url
        assert client.get(url).status_code == 200, url
    # Nothing else on the page points off the server (a CDN, Swagger's online validator).
    assert not re.search(r"https?://", page), re.findall(r"https?://[^\s\"']+", page)
    assert '"validatorUrl": null' in page


def _in(**delta):
    from datetime import timedelta

    from django.utils import timezone

    return timezone.now() + timedelta(**delta)


def test_reset_requests_are_limited_with_a_429_and_retry_after(client):
    UserFactory(email="often@example.org")
    assert client.post("/accounts/password/reset/", {"email": "often@example.org"}).status_code == 302
    again = client.post("/accounts/password/reset/", {"email": "OFTEN@example.org"})
    assert again.status_code == 429 and 0 < int(again["Retry-After"]) <= 60
    assert "try again in" in again.content.decode()
    assert len(mail.outbox) == 1
    # Other addresses from the same client: a few, then a wait as well.
    statuses = [client.post("/accounts/password/reset/", {"email": f"n{i}@example.org"}).status_code for i in range(5)]
    assert statuses == [302, 302, 302, 302, 429]

