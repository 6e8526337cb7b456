"""Project-level promises: the OpenAPI schema validates, production settings pass Django's deploy
check, and the pages for accounts work."""

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model

from rooms import services

from .factories import UserFactory

ROOT = Path(__file__).resolve().parent.parent


def manage(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        check=False,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_openapi_schema_validates_without_warnings(tmp_path):
    result = manage("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yml"))
    assert result.returncode == 0, result.stderr
    schema = (tmp_path / "schema.yml").read_text()
    for path in ("/api/spaces/{code}/participants/{uid}/remove/", "/api/spaces/{code}/reminder/", "/api/auth/token/"):
        assert path in schema


@pytest.mark.django_db
def test_every_mutating_endpoint_documents_its_errors(api):
    schema = api.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            if method in {"post", "patch", "delete"} and path != "/api/auth/token/":
                codes = set(operation["responses"])
                assert codes & {"401", "403", "404", "409"}, f"{method} {path} documents no errors"


@pytest.mark.django_db
def test_swagger_ui_renders(api):
    response = api.get("/api/docs/")
    assert response.status_code == 200
    assert b"swagger" in response.content.lower()


JANUS_SECRETS = ("JANUS_ADMIN_KEY", "JANUS_ADMIN_SECRET", "JANUS_ROOM_SECRET", "JANUS_TOKEN_SECRET", "JANUS_EVENTS_SECRET")


def production(**env: str) -> dict:
    """The environment of a production run: DEBUG off, a secret key, a host, every Janus secret."""
    return {
        "SPACES_DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(64),
        "ALLOWED_HOSTS": "spaces.example.com",
        **{name: f"{name.lower()}-value" for name in JANUS_SECRETS},
        **env,
    }


def test_deploy_check_is_clean_with_production_settings():
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=production())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues (0 silenced)" in result.stdout


def test_production_settings_refuse_to_start_without_a_secret_key():
    result = manage("check", env=production(SECRET_KEY=""))
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


PRINT_JANUS = "import json; from django.conf import settings; print(json.dumps(settings.JANUS))"


def test_production_settings_refuse_to_start_without_every_janus_secret():
    result = manage("check", env=production(**dict.fromkeys(JANUS_SECRETS, "")))
    assert result.returncode != 0
    assert "RuntimeError" in result.stderr and all(name in result.stderr for name in JANUS_SECRETS), result.stderr
    result = manage("check", env=production(JANUS_ROOM_SECRET="", JANUS_EVENTS_SECRET=""))
    message = result.stderr.strip().splitlines()[-1]
    assert result.returncode != 0 and "JANUS_ROOM_SECRET, JANUS_EVENTS_SECRET" in message
    assert "JANUS_ADMIN_KEY" not in message and "JANUS_TOKEN_SECRET" not in message
    # Set, they are used as they are; never derived from SECRET_KEY.
    result = manage("shell", "-c", PRINT_JANUS, env=production())
    assert result.returncode == 0, result.stderr
    janus = json.loads(result.stdout.strip().splitlines()[-1])
    assert all(janus[name.removeprefix("JANUS_")] == f"{name.lower()}-value" for name in JANUS_SECRETS)
    # Without Janus nothing needs them.
    result = manage("check", env=production(JANUS_ENABLED="0", **dict.fromkeys(JANUS_SECRETS, "")))
    assert result.returncode == 0, result.stderr


def test_a_local_run_needs_no_janus_secrets():
    result = manage("shell", "-c", PRINT_JANUS, env={"SPACES_DEBUG": "1", **dict.fromkeys(JANUS_SECRETS, "")})
    assert result.returncode == 0, result.stderr
    janus = json.loads(result.stdout.strip().splitlines()[-1])
    values = [janus[name.removeprefix("JANUS_")] for name in JANUS_SECRETS]
    assert all(len(value) == 40 for value in values) and len(set(values)) == len(values)


JANUS_POSTS_EVENTS = """
import base64, json
from django.test import Client

batch = [{"type": 64, "event": {"plugin": "janus.plugin.audiobridge",
                                "data": {"audiobridge": "talking", "room": 1, "id": 1}}}]
auth = "Basic " + base64.b64encode(b"janus:janus_events_secret-value").decode()

def post(host, **headers):
    return Client(HTTP_HOST=host).post("/media/janus-events/", json.dumps(batch), content_type="application/json", **headers)

page = Client().get("/", HTTP_HOST="spaces.example.org")
print(json.dumps({
    "janus": post("127.0.0.1:8000", HTTP_AUTHORIZATION=auth).status_code,
    "janus_without_auth": post("127.0.0.1:8000").status_code,
    "janus_from_another_host": post("evil.example", HTTP_AUTHORIZATION=auth).status_code,
    "page": [page.status_code, page.get("Location")],
    "page_from_another_host": Client().get("/", HTTP_HOST="evil.example").status_code,
}))
"""


@pytest.mark.django_db
def test_janus_can_post_its_events_under_production_settings():
    """Janus posts over plain HTTP to 127.0.0.1: no https redirect, no disallowed host there, while
    pages still redirect to https and unknown hosts are still refused."""
    from tests.processes import test_database_url

    env = production(ALLOWED_HOSTS="spaces.example.org", DATABASE_URL=test_database_url(), SPACES_PORT="8000")
    result = manage("shell", "-c", JANUS_POSTS_EVENTS, env=env)
    assert result.returncode == 0, result.stderr
    statuses = json.loads(result.stdout.strip().splitlines()[-1])
    assert statuses == {
        "janus": 204,
        "janus_without_auth": 401,
        "janus_from_another_host": 400,
        "page": [301, "https://spaces.example.org/"],
        "page_from_another_host": 400,
    }


@pytest.mark.django_db
class TestAccounts:
    def test_sign_up_signs_you_in(self, client):
        page = client.get("/accounts/signup/")
        assert page.status_code == 200
        response = client.post(
            "/accounts/signup/",
            {"username": "newhost", "password1": "a-long-passphrase-42", "password2": "a-long-passphrase-42"},
        )
        assert response.status_code == 302
        assert get_user_model().objects.filter(username="newhost").exists()
        assert client.get("/dashboard/").status_code == 200

    def test_sign_up_shows_form_errors(self, client):
        response = client.post("/accounts/signup/", {"username": "x", "password1": "a", "password2": "b"})
        assert response.status_code == 200
        assert b"didn" in response.content or b"match" in response.content

    def test_sign_in_and_out(self, client):
        UserFactory(username="returning")
        assert client.get("/accounts/login/").status_code == 200
        response = client.post("/accounts/login/", {"username": "returning", "password": "correct horse battery"})
        assert response.status_code == 302
        assert client.get("/dashboard/").status_code == 200
        assert client.post("/accounts/logout/").status_code == 302
        assert client.get("/dashboard/").status_code == 302

    def test_wrong_password_is_a_form_error(self, client):
        UserFactory(username="returning")
        response = client.post("/accounts/login/", {"username": "returning", "password": "wrong"})
        assert response.status_code == 200
        assert b"correct username and password" in response.content

    def test_dashboard_needs_an_account(self, client):
        response = client.get("/dashboard/")
        assert response.status_code == 302
        assert "/accounts/login/" in response["Location"]


@pytest.mark.django_db
def test_share_page_is_public_and_unknown_codes_are_404(client, host):
    space = services.space_create(host=host, title="Public show")
    assert client.get(f"/s/{space.code}/").status_code == 200
    assert client.get("/s/doesnotexist/").status_code == 404
