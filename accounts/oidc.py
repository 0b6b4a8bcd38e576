"""Single sign-on through the company's OpenID Connect provider (mozilla-django-oidc).

The library does the code flow (state, nonce, PKCE, token exchange, JWKS
signature check). This module adds what chatsite needs on top: endpoints found
through the issuer's discovery document, the ID token's issuer and audience
checked, users matched by (issuer, subject) only, and groups synced from a
claim at each sign-in.
"""

import logging
import re
import threading
import time
from typing import Any
from urllib.parse import urlencode

import jwt
import requests
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import ImproperlyConfigured, SuspiciousOperation
from django.db import transaction
from django.http import HttpRequest, HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from mozilla_django_oidc.auth import OIDCAuthenticationBackend
from mozilla_django_oidc.utils import import_from_settings
from mozilla_django_oidc.views import OIDCAuthenticationCallbackView, OIDCAuthenticationRequestView

from accounts.models import OpenIDIdentity

logger = logging.getLogger(__name__)

DISCOVERY_TTL_SECONDS = 3600

# mozilla-django-oidc setting -> field of the provider's discovery document.
DISCOVERED_SETTINGS = {
    "OIDC_OP_AUTHORIZATION_ENDPOINT": "authorization_endpoint",
    "OIDC_OP_TOKEN_ENDPOINT": "token_endpoint",
    "OIDC_OP_USER_ENDPOINT": "userinfo_endpoint",
    "OIDC_OP_JWKS_ENDPOINT": "jwks_uri",
}

_discovery: dict[str, Any] = {}
_discovery_lock = threading.Lock()


def sso_enabled() -> bool:
    return bool(settings.OIDC_ISSUER and settings.OIDC_RP_CLIENT_ID)


def provider_metadata() -> dict[str, Any]:
    """The issuer's discovery document, fetched once an hour.

    Its `issuer` must be exactly the configured one (OpenID Connect Discovery 4.3).
    """
    issuer = settings.OIDC_ISSUER
    with _discovery_lock:
        cached = _discovery.get(issuer)
        if cached is not None and time.monotonic() - cached["fetched_at"] < DISCOVERY_TTL_SECONDS:
            return cached["metadata"]
    response = requests.get(f"{issuer}/.well-known/openid-configuration", timeout=settings.OIDC_TIMEOUT)
    response.raise_for_status()
    metadata = response.json()
    if not isinstance(metadata, dict) or metadata.get("issuer") != issuer:
        raise ImproperlyConfigured(
            f"The OpenID provider at {issuer} names another issuer in its discovery document."
        )
    with _discovery_lock:
        _discovery[issuer] = {"metadata": metadata, "fetched_at": time.monotonic()}
    return metadata


def oidc_setting(attr: str, *default: Any) -> Any:
    """A mozilla-django-oidc setting; the provider's endpoints come from its discovery document."""
    if attr in DISCOVERED_SETTINGS:
        return provider_metadata()[DISCOVERED_SETTINGS[attr]]
    return import_from_settings(attr, *default)


class ProviderBackend(OIDCAuthenticationBackend):
    """Signs in the user the provider vouches for, creating them at their first sign-in."""

    get_settings = staticmethod(oidc_setting)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # Django builds every backend for each sign-in and session lookup: no
        # discovery here, only when a provider's answer is being checked.
        self.UserModel = get_user_model()

    OIDC_OP_TOKEN_ENDPOINT = property(lambda self: oidc_setting("OIDC_OP_TOKEN_ENDPOINT"))
    OIDC_OP_USER_ENDPOINT = property(lambda self: oidc_setting("OIDC_OP_USER_ENDPOINT"))
    OIDC_OP_JWKS_ENDPOINT = property(lambda self: oidc_setting("OIDC_OP_JWKS_ENDPOINT"))
    OIDC_RP_CLIENT_ID = property(lambda self: settings.OIDC_RP_CLIENT_ID)
    OIDC_RP_CLIENT_SECRET = property(lambda self: settings.OIDC_RP_CLIENT_SECRET)
    OIDC_RP_SIGN_ALGO = property(lambda self: settings.OIDC_RP_SIGN_ALGO)
    OIDC_RP_IDP_SIGN_KEY = None

    def authenticate(self, request: HttpRequest | None, **kwargs: Any):
        if not sso_enabled():
            return None
        try:
            return super().authenticate(request, **kwargs)
        except (SuspiciousOperation, jwt.InvalidTokenError, requests.RequestException, ValueError) as exc:
            logger.warning("Single sign-on refused: %s", exc)
            return None

    def retrieve_matching_jwk(self, token: str) -> jwt.PyJWK:
        """The provider's key that signed `token`: the one its `kid` names, else its only key for the alg."""
        header = jwt.get_unverified_header(token)
        response = requests.get(self.OIDC_OP_JWKS_ENDPOINT, timeout=settings.OIDC_TIMEOUT)
        response.raise_for_status()
        keys = [
            key
            for key in response.json().get("keys", [])
            if key.get("use", "sig") == "sig" and key.get("alg", header.get("alg")) == header.get("alg")
        ]
        if "kid" in header:
            keys = [key for key in keys if key.get("kid") == header["kid"]]
        if len(keys) != 1:
            raise SuspiciousOperation("No single signing key of the provider matches the ID token.")
        return jwt.PyJWK(keys[0])

    def _verify_jws(self, payload: str, key: Any) -> dict[str, Any]:
        """The ID token's claims, checked for signature, issuer, audience and expiry."""
        algorithm = jwt.get_unverified_header(payload).get("alg")
        if algorithm != self.OIDC_RP_SIGN_ALGO:
            raise SuspiciousOperation(f"The ID token is signed with {algorithm!r}, not the one configured.")
        return jwt.decode(
            payload,
            key,
            algorithms=[algorithm],
            audience=settings.OIDC_RP_CLIENT_ID,
            issuer=settings.OIDC_ISSUER,
            options={"require": ["exp", "iat", "iss", "aud", "sub"]},
            leeway=30,
        )

    def get_userinfo(self, access_token: str, id_token: str, payload: dict[str, Any]) -> dict[str, Any]:
        """The ID token's claims with the userinfo endpoint's, which must describe the same subject."""
        userinfo = super().get_userinfo(access_token, id_token, payload)
        if userinfo.get("sub") != payload.get("sub"):
            raise SuspiciousOperation("The userinfo endpoint describes another subject than the ID token.")
        return {**payload, **userinfo}

    def verify_claims(self, claims: dict[str, Any]) -> bool:
        return bool(claims.get("sub"))

    def filter_users_by_claims(self, claims: dict[str, Any]):
        return self.UserModel.objects.filter(
            openid_identities__issuer=settings.OIDC_ISSUER, openid_identities__subject=claims["sub"]
        )

    def describe_user_by_claims(self, claims: dict[str, Any]) -> str:
        return f"subject {claims.get('sub')}"

    @transaction.atomic
    def create_user(self, claims: dict[str, Any]):
        user = self.UserModel(username=unique_username(claims))
        user.set_unusable_password()
        apply_profile(user, claims)
        user.save()
        OpenIDIdentity.objects.create(user=user, issuer=settings.OIDC_ISSUER, subject=claims["sub"])
        sync_groups(user, claims)
        logger.info("Created user %s at their first single sign-on", user.get_username())
        return user

    @transaction.atomic
    def update_user(self, user, claims: dict[str, Any]):
        apply_profile(user, claims)
        user.save()
        OpenIDIdentity.objects.filter(user=user, issuer=settings.OIDC_ISSUER, subject=claims["sub"]).update(
            last_sign_in_at=timezone.now()
        )
        sync_groups(user, claims)
        return user

    def get_user(self, user_id: int):
        user = super().get_user(user_id)
        return user if user is not None and user.is_active else None


def apply_profile(user, claims: dict[str, Any]) -> None:
    for field, claim in (("email", "email"), ("first_name", "given_name"), ("last_name", "family_name")):
        value = claims.get(claim)
        if isinstance(value, str):
            setattr(user, field, value[: user._meta.get_field(field).max_length])


def unique_username(claims: dict[str, Any]) -> str:
    """A readable username that no one has yet (display only: sign-in matches the subject)."""
    User = get_user_model()
    max_length = User._meta.get_field(User.USERNAME_FIELD).max_length
    email = claims.get("email") if isinstance(claims.get("email"), str) else ""
    wanted = claims.get("preferred_username") or email.split("@")[0] or claims["sub"]
    base = re.sub(r"[^\w.@+-]", "", str(wanted))[: max_length - 8] or "user"
    candidate, n = base, 1
    while User.objects.filter(**{f"{User.USERNAME_FIELD}__iexact": candidate}).exists():
        n += 1
        candidate = f"{base}-{n}"
    return candidate


def sync_groups(user, claims: dict[str, Any]) -> None:
    """Make the user's Django groups exactly the ones the provider's groups claim names.

    Off unless OIDC_GROUPS_CLAIM names the claim; the provider is then the one
    place where group membership of its users is managed.
    """
    claim = settings.OIDC_GROUPS_CLAIM
    if not claim:
        return
    value = claims.get(claim, [])
    names = [value] if isinstance(value, str) else [v for v in value if isinstance(v, str)]
    groups = [Group.objects.get_or_create(name=name[:150])[0] for name in names if name.strip()]
    user.groups.set(groups)


class SignInWithProvider(OIDCAuthenticationRequestView):
    """Sends the browser to the provider's sign-in page (state, nonce and PKCE kept in the session)."""

    get_settings = staticmethod(oidc_setting)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super(OIDCAuthenticationRequestView, self).__init__(*args, **kwargs)
        self.OIDC_RP_CLIENT_ID = settings.OIDC_RP_CLIENT_ID

    def get(self, request: HttpRequest):
        if not sso_enabled():
            return HttpResponseRedirect(reverse("login"))
        try:
            self.OIDC_OP_AUTH_ENDPOINT = oidc_setting("OIDC_OP_AUTHORIZATION_ENDPOINT")
        except (requests.RequestException, ImproperlyConfigured, ValueError, KeyError) as exc:
            logger.error("The OpenID provider's discovery document could not be read: %s", exc)
            return HttpResponseRedirect(reverse("login") + "?sso=unavailable")
        return super().get(request)


class ProviderCallback(OIDCAuthenticationCallbackView):
    """Where the provider sends the browser back; a refusal returns to the sign-in page with a reason."""

    get_settings = staticmethod(oidc_setting)

    def login_failure(self):
        return HttpResponseRedirect(reverse("login") + "?sso=failed")


def provider_logout_url(request: HttpRequest) -> str | None:
    """The provider's end-session address for this session, if it offers one (RP-Initiated Logout)."""
    if not sso_enabled() or "oidc_id_token" not in request.session:
        return None
    try:
        endpoint = provider_metadata().get("end_session_endpoint")
    except (requests.RequestException, ImproperlyConfigured, ValueError):
        return None
    if not endpoint:
        return None
    query = urlencode(
        {
            "id_token_hint": request.session["oidc_id_token"],
            "client_id": settings.OIDC_RP_CLIENT_ID,
            "post_logout_redirect_uri": request.build_absolute_uri(reverse("login")),
        }
    )
    return f"{endpoint}{'&' if '?' in endpoint else '?'}{query}"
