"""Settings for chatsite, read from the environment.

Unset DATABASE_URL and REDIS_URL give the embedded default: SQLite in WAL mode
and the in-memory channel layer, one process, no services.
"""

import os
import secrets
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("CHATSITE_VAR_DIR", BASE_DIR / "var"))


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value else default


def env_list(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name)
    if value is None:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def private_dir(path: Path) -> Path:
    """`path` as a directory only its owner can open (0700), whatever the umask."""
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o700)
    return path


def private_file(path: Path) -> Path:
    """`path` as a file only its owner can read (0600), created empty if missing, whatever the umask."""
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
    path.chmod(0o600)
    return path


def local_secret_key() -> str:
    """A key generated once per checkout, for local runs only."""
    path = VAR_DIR / "secret_key"
    if not path.exists():
        private_dir(VAR_DIR)
        private_file(path).write_text(secrets.token_urlsafe(50))
    return path.read_text().strip()


DEBUG = env_bool("DEBUG", False)

SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG and not env_bool("CHATSITE_LOCAL", False):
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
    SECRET_KEY = local_secret_key()

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
if not DEBUG and "*" in ALLOWED_HOSTS:
    raise ImproperlyConfigured(
        "ALLOWED_HOSTS must name the site's hosts when DEBUG is off, not '*': it also decides "
        "which websocket origins are accepted."
    )
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

# Serves the fake platforms inside the site, for the demo and browser tests.
CHATSITE_DEMO = env_bool("CHATSITE_DEMO", False)

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "channels",
    "csp",
    "accounts",
    "agents",
    "conversations",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "conversations.access.NotFoundMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
]

ROOT_URLCONF = "chatsite.urls"
ASGI_APPLICATION = "chatsite.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]


def database_config() -> dict:
    url = env_str("DATABASE_URL")
    if url:
        config = dj_database_url.parse(
            url, conn_max_age=env_int("DB_CONN_MAX_AGE", 0), conn_health_checks=True
        )
        return config
    private_dir(VAR_DIR)
    # SQLite creates the -wal and -shm files with the database file's permissions.
    database = private_file(VAR_DIR / "chatsite.sqlite3")
    for companion in ("chatsite.sqlite3-wal", "chatsite.sqlite3-shm"):
        if (VAR_DIR / companion).exists():
            (VAR_DIR / companion).chmod(0o600)
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": database,
        # A local file costs nothing to keep open; opening it per query cost a third of the
        # relay's CPU (bench/README.md).
        "CONN_MAX_AGE": None,
        "OPTIONS": {
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
        },
    }


DATABASES = {"default": database_config()}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env_str("REDIS_URL")
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "chatsite.channel_layer.WaitingRedisChannelLayer",
            "CONFIG": {
                # socket_timeout: redis-py 8 otherwise times out idle reads after 5 s and the
                # consumers listening on the layer crash. Past max_connections a layer call
                # waits up to `timeout` seconds for a free connection.
                "hosts": [
                    {
                        "address": REDIS_URL,
                        "socket_timeout": None,
                        "max_connections": env_int("CHATSITE_REDIS_CONNECTIONS", 200),
                        "timeout": 10,
                    }
                ],
                "capacity": 10_000,
                # Groups are named after conversations: sites sharing one Redis need their own prefix.
                "prefix": env_str("CHATSITE_REDIS_PREFIX", "asgi"),
            },
        }
    }
else:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels.layers.InMemoryChannelLayer",
            "CONFIG": {"capacity": 10_000},
        }
    }

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

AUTHENTICATION_BACKENDS = ["accounts.backends.PasswordBackend", "accounts.oidc.ProviderBackend"]
# Off: only superusers sign in with a password; everyone else through single sign-on.
PASSWORD_LOGIN = env_bool("CHATSITE_PASSWORD_LOGIN", True)

# Single sign-on (OpenID Connect): on when an issuer and a client id are set.
OIDC_ISSUER = env_str("OIDC_ISSUER").rstrip("/")
OIDC_RP_CLIENT_ID = env_str("OIDC_CLIENT_ID")
OIDC_RP_CLIENT_SECRET = env_str("OIDC_CLIENT_SECRET")
OIDC_RP_SCOPES = env_str("OIDC_SCOPES", "openid email profile")
OIDC_RP_SIGN_ALGO = env_str("OIDC_SIGN_ALGO", "RS256")
OIDC_GROUPS_CLAIM = env_str("OIDC_GROUPS_CLAIM")
OIDC_PROVIDER_NAME = env_str("OIDC_PROVIDER_NAME")
OIDC_USE_PKCE = True
OIDC_STORE_ID_TOKEN = True
OIDC_TIMEOUT = 10
OIDC_AUTHENTICATION_CALLBACK_URL = "oidc_callback"

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "chat"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en"
# The language comes from the user's choice (a cookie set by Django's set_language), else the browser.
# Each is named in itself, so that a reader finds their own in the menu.
LANGUAGES = [("en", "English"), ("de", "Deutsch")]
LOCALE_PATHS = [BASE_DIR / "locale"]
# English keeps the site's short dates; German uses Django's own formats.
FORMAT_MODULE_PATH = ["chatsite.formats"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(BASE_DIR / "staticfiles")))
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(VAR_DIR / "media")))
MEDIA_URL = "media/"
# Attached files on local disk are readable by the site's own user only.
FILE_UPLOAD_PERMISSIONS = 0o600
FILE_UPLOAD_DIRECTORY_PERMISSIONS = 0o700


def file_storage() -> dict:
    """Where attachments are kept: MEDIA_ROOT on local disk, or an S3-compatible bucket when one is named.

    The bucket stays private: files are served through the site's own views,
    which check who may see them.
    """
    bucket = env_str("CHATSITE_S3_BUCKET")
    if not bucket:
        return {"BACKEND": "django.core.files.storage.FileSystemStorage"}
    options = {
        "bucket_name": bucket,
        "location": env_str("CHATSITE_S3_PREFIX", "chatsite"),
        "default_acl": "private",
        "file_overwrite": False,
        "querystring_auth": True,
    }
    for option, variable in [
        ("endpoint_url", "CHATSITE_S3_ENDPOINT_URL"),
        ("region_name", "CHATSITE_S3_REGION"),
        ("access_key", "CHATSITE_S3_ACCESS_KEY_ID"),
        ("secret_key", "CHATSITE_S3_SECRET_ACCESS_KEY"),
        ("addressing_style", "CHATSITE_S3_ADDRESSING_STYLE"),
    ]:
        if env_str(variable):
            options[option] = env_str(variable)
    return {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": options}


STORAGES = {
    "default": file_storage(),
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
WHITENOISE_USE_FINDERS = DEBUG
WHITENOISE_AUTOREFRESH = DEBUG

# Keys that encrypt platform API keys at rest (Fernet, comma separated, newest
# first). Unset: one key derived from SECRET_KEY.
CREDENTIAL_KEYS = env_list("CREDENTIAL_KEYS", [])

# Upstream HTTP client, shared by every stream in a process.
UPSTREAM_MAX_CONNECTIONS = env_int("UPSTREAM_MAX_CONNECTIONS", 1000)
UPSTREAM_CONNECT_TIMEOUT = float(env_str("UPSTREAM_CONNECT_TIMEOUT", "10"))
UPSTREAM_READ_TIMEOUT = float(env_str("UPSTREAM_READ_TIMEOUT", "120"))
# Internal hosts (names or IP addresses) upstream requests may go to anyway; by
# default loopback, private, link-local and metadata addresses are refused
# (agents.providers.addresses). Loopback is allowed for the demo's fake platforms.
UPSTREAM_ALLOWED_HOSTS = env_list("UPSTREAM_ALLOWED_HOSTS", [])
UPSTREAM_ALLOW_LOOPBACK = env_bool("UPSTREAM_ALLOW_LOOPBACK", CHATSITE_DEMO)
# Retries of a turn the platform refused before answering (429, 502-504, no connection).
UPSTREAM_RETRIES = env_int("UPSTREAM_RETRIES", 3)
UPSTREAM_RETRY_BASE_DELAY = float(env_str("UPSTREAM_RETRY_BASE_DELAY", "1"))
# What one reply may make the site hold: its text, its length in time, and its
# longest silence (heartbeats do not count; a SketricGen JSON reply may take 300 s).
UPSTREAM_MAX_REPLY_CHARS = env_int("UPSTREAM_MAX_REPLY_CHARS", 2_000_000)
UPSTREAM_MAX_REPLY_SECONDS = float(env_str("UPSTREAM_MAX_REPLY_SECONDS", "1800"))
UPSTREAM_IDLE_SECONDS = float(env_str("UPSTREAM_IDLE_SECONDS", "360"))
# The largest JSON body read from a platform (a non-streamed reply, an upload answer).
UPSTREAM_MAX_JSON_BYTES = env_int("UPSTREAM_MAX_JSON_BYTES", 16 * 1024 * 1024)
# How often a streaming reply's partial text is written to the database.
REPLY_CHECKPOINT_SECONDS = float(env_str("REPLY_CHECKPOINT_SECONDS", "2"))
# A streaming reply whose row has not been touched for this long belongs to a dead process;
# every process sweeps for such replies this often (see conversations/relay/sweep.py).
REPLY_ALIVE_SECONDS = float(env_str("REPLY_ALIVE_SECONDS", "90"))
REPLY_SWEEP_SECONDS = float(env_str("REPLY_SWEEP_SECONDS", "") or REPLY_ALIVE_SECONDS / 3)
# On SIGTERM a process lets its running replies finish for this long, then interrupts the rest
# (chatsite/shutdown.py); a service manager's stop timeout must be longer.
REPLY_SHUTDOWN_GRACE_SECONDS = float(env_str("REPLY_SHUTDOWN_GRACE_SECONDS", "30"))
if REPLY_ALIVE_SECONDS < 3 * REPLY_CHECKPOINT_SECONDS:
    raise ImproperlyConfigured("REPLY_ALIVE_SECONDS must be at least 3 x REPLY_CHECKPOINT_SECONDS.")

# Request bodies, in bytes: attachment uploads (one file of at most 20 MB plus the form), and
# everything else (forms, the admin's agent definitions). chatsite/request_limits.py.
UPLOAD_BODY_LIMIT = env_int("CHATSITE_UPLOAD_BODY_LIMIT", 21 * 1024 * 1024)
BODY_LIMIT = env_int("CHATSITE_BODY_LIMIT", 1024 * 1024)
# Websockets: open at once per signed-in user in one process (live share viewers included); bytes
# a socket may leave unsent before it is dropped as a client that does not read.
SOCKETS_PER_USER = env_int("CHATSITE_SOCKETS_PER_USER", 20)
SOCKET_SEND_BUFFER = env_int("CHATSITE_SOCKET_SEND_BUFFER", 4 * 1024 * 1024)

# Per-user limits, across all the user's conversations.
MESSAGES_PER_MINUTE = env_int("CHATSITE_MESSAGES_PER_MINUTE", 20)
RUNNING_REPLIES_PER_USER = env_int("CHATSITE_RUNNING_REPLIES", 3)
# Share links that anyone with the link may open, signed in or not.
ALLOW_PUBLIC_LINKS = env_bool("CHATSITE_ALLOW_PUBLIC_LINKS", True)

# Behind a TLS-terminating proxy. Off for plain-HTTP local runs.
HTTPS = env_bool("CHATSITE_HTTPS", not DEBUG)
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SECURE_SSL_REDIRECT = HTTPS
SECURE_HSTS_SECONDS = 31_536_000 if HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS
SECURE_HSTS_PRELOAD = HTTPS
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"

CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF],
        "connect-src": [SELF],
        "font-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        # Signing out may redirect to the identity provider's end-session page.
        "form-action": [SELF, *([origin_of(OIDC_ISSUER)] if OIDC_ISSUER else [])],
        "frame-ancestors": [NONE],
    }
}

# Error pages (DEBUG) and error reports never show a platform key.
DEFAULT_EXCEPTION_REPORTER_FILTER = "chatsite.error_reports.KeyHidingReporterFilter"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        # httpx logs every request line at INFO.
        "httpx": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
    },
}
