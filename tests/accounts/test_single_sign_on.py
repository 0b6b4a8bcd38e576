"""Single sign-on against a real OpenID Connect provider (oidc-provider-mock) on localhost."""

import base64
import hashlib
import json
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import pytest
from django.contrib.auth.models import Group, User
from django.core.exceptions import SuspiciousOperation
from django.test import Client

from accounts import oidc
from agents.models import Agent

pytestmark = pytest.mark.django_db


@pytest.fixture
def sso(settings, oidc_provider):
    settings.OIDC_ISSUER = oidc_provider.url
    settings.OIDC_RP_CLIENT_ID = "chatsite"
    settings.OIDC_RP_CLIENT_SECRET = "client-secret"
    settings.OIDC_GROUPS_CLAIM = "groups"
    settings.OIDC_PROVIDER_NAME = "Example SSO"
    oidc._discovery.clear()
    oidc_provider.requests.clear()
    yield oidc_provider
    oidc._discovery.clear()


def set_claims(provider, sub: str, **claims) -> None:
    httpx.put(f"{provider.url}/users/{sub}", json=claims).raise_for_status()


def authorize(provider, client: Client, sub: str, next_url: str = "") -> str:
    """Start sign-in on the site, approve `sub` at the provider; the site URL it sends the browser back to."""
    start = client.get("/accounts/oidc/start/" + (f"?next={next_url}" if next_url else ""))
    assert start.status_code == 302
    assert start["Location"].startswith(f"{provider.url}/oauth2/authorize?")
    approved = httpx.post(start["Location"], data={"sub": sub})
    assert approved.status_code == 302, approved.text
    return approved.headers["location"]


def sign_in(provider, client: Client, sub: str, next_url: str = ""):
    back = urlsplit(authorize(provider, client, sub, next_url))
    return client.get(f"{back.path}?{back.query}")


def test_the_sign_in_page_offers_the_provider_only_when_it_is_configured(client, settings, sso):
    assert "Sign in with Example SSO" in client.get("/accounts/login/").content.decode()
    settings.OIDC_ISSUER = ""
    assert "Sign in with" not in client.get("/accounts/login/").content.decode()


def test_a_first_sign_in_creates_the_user_matched_by_subject(client, sso):
    set_claims(sso, "u-1001", email="dana@example.com", preferred_username="dana", groups=[])
    response = sign_in(sso, client, "u-1001", next_url="/search/")

    assert response.status_code == 302 and response["Location"] == "/search/"
    user = User.objects.get(openid_identities__subject="u-1001", openid_identities__issuer=sso.url)
    assert (user.username, user.email) == ("dana", "dana@example.com")
    assert not user.has_usable_password()
    assert client.get("/").status_code == 200


def test_users_are_matched_by_subject_never_by_email_or_name(client, sso):
    local = User.objects.create_user("dana", email="dana@example.com", password="pw-local-account")
    set_claims(sso, "u-2002", email="dana@example.com", preferred_username="dana")
    sign_in(sso, client, "u-2002")

    signed_in = User.objects.get(openid_identities__subject="u-2002")
    assert signed_in != local
    assert signed_in.username == "dana-2"

    again = Client()
    sign_in(sso, again, "u-2002")
    assert User.objects.filter(openid_identities__subject="u-2002").count() == 1
    assert int(again.session["_auth_user_id"]) == signed_in.pk


def test_the_code_flow_uses_pkce_state_and_nonce(client, sso):
    set_claims(sso, "u-3003", email="e@example.com")
    start = client.get("/accounts/oidc/start/")
    query = parse_qs(urlsplit(start["Location"]).query)
    assert query["code_challenge_method"] == ["S256"]
    assert query["state"][0] and query["nonce"][0]

    back = urlsplit(httpx.post(start["Location"], data={"sub": "u-3003"}).headers["location"])
    client.get(f"{back.path}?{back.query}")

    token_request = next(form for path, form in sso.requests if path == "/oauth2/token")
    verifier = token_request["code_verifier"]
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    assert challenge == query["code_challenge"][0]
    assert client.session.get("_auth_user_id")


def test_a_callback_with_a_state_the_site_did_not_issue_is_refused(client, sso):
    set_claims(sso, "u-4004", email="f@example.com")
    back = urlsplit(authorize(sso, client, "u-4004"))
    forged = {**parse_qs(back.query), "state": ["forged-state"]}
    response = client.get(back.path, {k: v[0] for k, v in forged.items()})
    assert response.status_code == 400
    assert "_auth_user_id" not in client.session


def test_a_callback_cannot_be_replayed(client, sso):
    set_claims(sso, "u-5005", email="g@example.com")
    back = urlsplit(authorize(sso, client, "u-5005"))
    assert client.get(f"{back.path}?{back.query}")["Location"] == "/"
    other = Client()
    other.get("/accounts/oidc/start/")
    replay = other.get(f"{back.path}?{back.query}")
    assert replay.status_code == 400
    assert "_auth_user_id" not in other.session


def id_token_from_provider(provider, host: str, client_id: str, nonce: str) -> str:
    """An ID token the provider really issued, asked for through `host` (its issuer follows the host)."""
    base = provider.url.replace("localhost", host)
    authorize_url = f"{base}/oauth2/authorize"
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": "http://testserver/accounts/oidc/callback/",
        "scope": "openid email",
        "state": "s",
        "nonce": nonce,
    }
    approved = httpx.post(authorize_url, params=params, data={"sub": "u-6006"})
    code = parse_qs(urlsplit(approved.headers["location"]).query)["code"][0]
    token = httpx.post(
        f"{base}/oauth2/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": params["redirect_uri"],
            "client_id": client_id,
            "client_secret": "client-secret",
        },
    )
    return token.json()["id_token"]


def test_an_id_token_for_another_client_is_refused(sso):
    token = id_token_from_provider(sso, "localhost", "another-app", nonce="n1")
    with pytest.raises(jwt.InvalidAudienceError):
        oidc.ProviderBackend().verify_token(token, nonce="n1")


def test_an_id_token_from_another_issuer_is_refused(sso):
    token = id_token_from_provider(sso, "127.0.0.1", "chatsite", nonce="n2")
    with pytest.raises(jwt.InvalidIssuerError):
        oidc.ProviderBackend().verify_token(token, nonce="n2")


def test_a_tampered_id_token_is_refused(sso):
    token = id_token_from_provider(sso, "localhost", "chatsite", nonce="n3")
    assert oidc.ProviderBackend().verify_token(token, nonce="n3")["sub"] == "u-6006"
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["sub"] = "someone-else"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    with pytest.raises(jwt.InvalidSignatureError):
        oidc.ProviderBackend().verify_token(f"{header}.{forged}.{signature}", nonce="n3")


def test_a_wrong_nonce_is_refused(sso):
    token = id_token_from_provider(sso, "localhost", "chatsite", nonce="n4")
    with pytest.raises(SuspiciousOperation, match="Nonce"):
        oidc.ProviderBackend().verify_token(token, nonce="another")


def test_groups_follow_the_provider_at_each_sign_in(client, sso, sketricgen_credential):
    research = Group.objects.create(name="Research")
    agent = Agent.objects.create(
        name="Lab agent", slug="lab", credential=sketricgen_credential, upstream_agent_id="agent-demo"
    )
    agent.groups.add(research)

    set_claims(sso, "u-7007", email="h@example.com", groups=["Research", "Everyone"])
    sign_in(sso, client, "u-7007")
    user = User.objects.get(openid_identities__subject="u-7007")
    assert set(user.groups.values_list("name", flat=True)) == {"Research", "Everyone"}
    assert client.get("/").content.decode().count("Lab agent") >= 1

    set_claims(sso, "u-7007", email="h@example.com", groups=["Everyone"])
    client.post("/accounts/logout/")
    sign_in(sso, client, "u-7007")
    assert set(user.groups.values_list("name", flat=True)) == {"Everyone"}
    assert "Lab agent" not in client.get("/").content.decode()


def test_password_sign_in_can_be_limited_to_superusers(client, settings, sso):
    settings.PASSWORD_LOGIN = False
    User.objects.create_user("member", password="member-password-1")
    User.objects.create_superuser("root", password="root-password-1")

    page = client.get("/accounts/login/").content.decode()
    assert "Administrator sign-in" in page and "Sign in with Example SSO" in page
    refused = client.post("/accounts/login/", {"username": "member", "password": "member-password-1"})
    assert refused.status_code == 200 and "_auth_user_id" not in client.session
    admitted = client.post("/accounts/login/", {"username": "root", "password": "root-password-1"})
    assert admitted.status_code == 302


def test_signing_out_ends_the_providers_session_too(client, sso):
    set_claims(sso, "u-8008", email="i@example.com")
    sign_in(sso, client, "u-8008")
    response = client.post("/accounts/logout/")
    assert response.status_code == 302
    end_session = urlsplit(response["Location"])
    assert f"{end_session.scheme}://{end_session.netloc}{end_session.path}" == f"{sso.url}/oauth2/end_session"
    query = parse_qs(end_session.query)
    assert query["post_logout_redirect_uri"] == ["http://testserver/accounts/login/"]
    assert query["id_token_hint"][0].count(".") == 2
    assert "_auth_user_id" not in client.session


def test_password_users_sign_out_to_the_sign_in_page(client, sso):
    User.objects.create_user("erin", password="erin-password-1")
    client.login(username="erin", password="erin-password-1")
    assert client.post("/accounts/logout/")["Location"] == "/accounts/login/"


def test_an_unreachable_provider_is_explained_on_the_sign_in_page(client, settings, sso):
    settings.OIDC_ISSUER = "http://localhost:9"
    response = client.get("/accounts/oidc/start/", follow=True)
    assert "cannot be reached" in response.content.decode()
