"""Project-level promises: the OpenAPI schema validates, production settings pass Django's deploy
check, and the pages for accounts work."""

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


def test_deploy_check_is_clean_with_production_settings():
    result = manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        env={
            "SPACES_DEBUG": "0",
            "SECRET_KEY": secrets.token_urlsafe(64),
            "ALLOWED_HOSTS": "spaces.example.com",
        },
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues (0 silenced)" in result.stdout


def test_production_settings_refuse_to_start_without_a_secret_key():
    result = manage("check", env={"SPACES_DEBUG": "0", "SECRET_KEY": ""})
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


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
