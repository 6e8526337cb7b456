"""Settings for Spaces, read from the environment with embedded defaults.

With no environment at all the project runs locally: SQLite in ``var/``, Redis on localhost,
DEBUG on. Production sets ``SPACES_DEBUG=0``, ``SECRET_KEY``, ``ALLOWED_HOSTS``, ``DATABASE_URL``
(PostgreSQL) and Janus's five secrets (``JANUS_*``, below), and ``TURN_SECRET`` with a ``TURN_HOST``;
``manage.py check --deploy`` is then clean.
"""

import ipaddress
import json
import os
import re
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url

from rooms import limits

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("SPACES_VAR_DIR", BASE_DIR / "var"))


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("SPACES_DEBUG", True)
SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise RuntimeError("SECRET_KEY must be set when SPACES_DEBUG is off.")
    SECRET_KEY = "insecure-local-development-key-only-for-debug-runs-0123456789"

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")
# The port `make run` and deploy/web serve on (the Makefile exports it).
SPACES_PORT = int(os.environ.get("SPACES_PORT") or "8000")
# The public origin used to build share links outside a request (emails, Celery, .ics files):
# by default the local address on the port the app is served on.
SITE_URL = (os.environ.get("SITE_URL") or f"http://127.0.0.1:{SPACES_PORT}").rstrip("/")
# How many reverse proxies (Caddy, a load balancer) stand in front of the app. Only then are
# X-Forwarded-For (the address that many hops from the right) and X-Forwarded-Proto believed; with
# 0 the client is the socket's peer and those headers are ignored (spaces.clients.client_ip).
SPACES_TRUSTED_PROXIES = int(os.environ.get("SPACES_TRUSTED_PROXIES") or "0")
if SPACES_TRUSTED_PROXIES < 0:
    raise RuntimeError("SPACES_TRUSTED_PROXIES is a number of proxies: 0 or more.")

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "axes",
    "rooms",
    "scheduling",
    "accounts",
    "clips",
    "analytics",
    "captions",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # A database that does not answer: API 503 JSON, pages a "try again" page (spaces.outages).
    "spaces.outages.DatabaseOutageMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "spaces.logs.SpaceLogMiddleware",
    # Last: turns a request that met a sign-in lockout into spaces.lockouts.lockout_response.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "spaces.urls"
ASGI_APPLICATION = "spaces.asgi.application"
WSGI_APPLICATION = None

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "scheduling.context_processors.notifications",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{VAR_DIR / 'spaces.sqlite3'}"),
        conn_max_age=int(os.environ.get("DB_CONN_MAX_AGE", "0")),
        # A persistent connection is checked (and replaced if broken) before its first query in
        # each request or database_sync_to_async call: a PostgreSQL restart costs no request.
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Several processes (daphne, Celery) share the file: wait on locks instead of failing.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 20, "transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL;"}
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# django-axes first: a locked-out account or address is refused before any password is checked.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# Sign-in lockouts (the login form, the admin and POST /api/auth/token/): after this many failures
# within the cool-off, an account is locked whatever address tries it, and an address is locked
# whatever account it tries, until the cool-off has passed since the last failure.
AXES_FAILURE_LIMIT = int(os.environ.get("LOGIN_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = timedelta(minutes=float(os.environ.get("LOGIN_COOLOFF_MINUTES", "15")))
AXES_LOCKOUT_PARAMETERS = ["ip_address", "username"]
AXES_CLIENT_IP_CALLABLE = "spaces.clients.client_ip"
AXES_LOCKOUT_CALLABLE = "spaces.lockouts.lockout_response"
# A success does not wipe the address's failures: that would let someone with an account of
# their own reset an address lockout by signing in between guesses at others' passwords.
AXES_RESET_ON_SUCCESS = False
# Failures are still logged (account and address masked); no banner at every start.
AXES_VERBOSE = False
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "home"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
# janus.js and adapter.js come from Debian's packages, served from where those install them.
for prefix, path in (
    ("vendor/janus", "/usr/share/javascript/janus-gateway"),
    ("vendor/webrtc-adapter", "/usr/share/javascript/webrtc-adapter"),
):
    if Path(path).is_dir():
        STATICFILES_DIRS.append((prefix, path))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", VAR_DIR / "media"))

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")

# RedisChannelLayer ("core", the default) or RedisPubSubChannelLayer ("pubsub"): chosen by
# measurement, see docs/REALTIME.md.
CHANNEL_LAYER = os.environ.get("CHANNEL_LAYER", "core")
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {
            # redis-py's asyncio pool allows 100 connections by default: a burst of thousands
            # of websocket connects (group_add each) needs more.
            # A receive is a blocking Redis read of 5 s (channels-redis), which redis-py's default
            # socket timeout, 5 s as well, cut short: every relay of a quiet Space then logged a
            # TimeoutError and paused. 15 s lets the read end on its own and still reports a Redis
            # that stopped answering (tests/test_idle_relay.py).
            "hosts": [{
                "address": os.environ.get("CHANNEL_REDIS_URL", REDIS_URL),
                "max_connections": 1000,
                "socket_timeout": 15,
            }],
            "capacity": int(os.environ.get("CHANNEL_CAPACITY", "1000")),
            "expiry": 60,
            # Group membership outlives the longest Space; consumers also re-add themselves.
            "group_expiry": 7 * 24 * 3600,
            "prefix": os.environ.get("CHANNEL_PREFIX", "spaces"),
        },
    }
    if CHANNEL_LAYER == "core"
    else {
        "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
        "CONFIG": {
            "hosts": [os.environ.get("CHANNEL_REDIS_URL", REDIS_URL)],
            "prefix": os.environ.get("CHANNEL_PREFIX", "spaces"),
        },
    }
}

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": os.environ.get("CACHE_REDIS_URL", REDIS_URL),
        "KEY_PREFIX": os.environ.get("CACHE_PREFIX", "spaces"),
    }
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first: its WWW-Authenticate header makes "not signed in" a 401, not a 403.
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    "DEFAULT_PARSER_CLASSES": ["rooms.api.parsers.SafeJSONParser"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 20,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "rooms.api.errors.exception_handler",
    "DEFAULT_THROTTLE_RATES": {"token": "20/min"},
    # Throttles key on spaces.clients.client_ip (rooms.api.throttling); DRF's own agree with it.
    "NUM_PROXIES": SPACES_TRUSTED_PROXIES,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Spaces API",
    "DESCRIPTION": "Schedule and host live audio rooms. Errors are "
    '`{"detail": "<sentence>", "code": "<stable code>"}`.',
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI and ReDoc from the app's own static files (drf-spectacular-sidecar), not a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # No online validator badge: Swagger UI would send the schema to validator.swagger.io.
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
}

CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", REDIS_URL)
CELERY_RESULT_BACKEND = None
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_TASK_TIME_LIMIT = 120
CELERY_TASK_SOFT_TIME_LIMIT = 100
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
# ETAs are kept under a minute (see rooms.services.timekeeping), far inside this.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 300}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# Celery beat's own scheduler, which stamps the heartbeat with the moment it sends it.
CELERY_BEAT_SCHEDULER = "spaces.celery:Scheduler"
SPACES_SWEEP_INTERVAL = float(os.environ.get("SPACES_SWEEP_INTERVAL", "30"))
SPACES_MEDIA_RECONCILE_INTERVAL = float(os.environ.get("SPACES_MEDIA_RECONCILE_INTERVAL", "2"))
# Beat sends a heartbeat this often; a worker or beat not seen for SPACES_HEARTBEAT_STALE is down.
SPACES_HEARTBEAT_INTERVAL = float(os.environ.get("SPACES_HEARTBEAT_INTERVAL", "15"))
SPACES_HEARTBEAT_STALE = float(os.environ.get("SPACES_HEARTBEAT_STALE", "60"))
# Host analytics take each live Space's listener count this often (seconds).
SPACES_ANALYTICS_SAMPLE_INTERVAL = float(os.environ.get("SPACES_ANALYTICS_SAMPLE_INTERVAL", "10"))
# Clips one person may make in one Space per minute.
SPACES_CLIPS_PER_MINUTE = int(os.environ.get("SPACES_CLIPS_PER_MINUTE", "3"))
CELERY_BEAT_SCHEDULE = {
    "start-due-spaces": {"task": "rooms.tasks.sweep_due_spaces_task", "schedule": SPACES_SWEEP_INTERVAL},
    "end-abandoned-spaces": {"task": "rooms.tasks.end_abandoned_spaces_task", "schedule": 60.0},
    # Reminders and emails whose task was lost between a commit and the broker are caught up.
    "deliver-pending-notifications": {
        "task": "scheduling.tasks.deliver_pending_notifications_task",
        "schedule": 60.0,
    },
    # "Starts in 10 minutes" reminders (scheduling.services.reminders_soon_send).
    "remind-soon": {"task": "scheduling.tasks.remind_soon_task", "schedule": SPACES_SWEEP_INTERVAL},
    "expire-presence": {"task": "rooms.tasks.presence_sweep_task", "schedule": 15.0},
    # Rooms of live Spaces come back after a Janus restart within this interval.
    # Janus back after a crash: rooms, mountpoints and forwards rebuilt within this many seconds.
    # (A run the worker could not start in time is dropped: the next one does the same work.)
    "reconcile-media": {
        "task": "rooms.tasks.media_reconcile_task",
        "schedule": SPACES_MEDIA_RECONCILE_INTERVAL,
        "options": {"expires": SPACES_MEDIA_RECONCILE_INTERVAL},
    },
    "expire-replays": {"task": "rooms.tasks.replays_expire_task", "schedule": 3600.0},
    # Clips go with their replay (rooms.signals.replay_removed); this catches the rest.
    "expire-clips": {"task": "clips.tasks.clips_expire_task", "schedule": 3600.0},
    "expire-transcripts": {"task": "captions.tasks.transcripts_expire_task", "schedule": 3600.0},
    # Host analytics: every live Space's listener count (analytics.services.listeners_sample).
    "sample-listeners": {
        "task": "analytics.tasks.listeners_sample_task",
        "schedule": SPACES_ANALYTICS_SAMPLE_INTERVAL,
        "options": {"expires": SPACES_ANALYTICS_SAMPLE_INTERVAL},
    },
    # Django keeps expired sessions (every signed-out listener has one) until this clears them.
    "clear-sessions": {"task": "rooms.tasks.sessions_clear_task", "schedule": 3600.0},
    # /healthz and /metrics read when beat last sent this and when a worker last ran it.
    "heartbeat": {
        "task": "spaces.celery.heartbeat_task",
        "schedule": SPACES_HEARTBEAT_INTERVAL,
        "options": {"expires": SPACES_HEARTBEAT_STALE},
    },
}

EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_FILE_PATH = os.environ.get("EMAIL_FILE_PATH", str(VAR_DIR / "emails"))
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "25"))
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "Spaces <spaces@localhost>")
EMAIL_TIMEOUT = float(os.environ.get("EMAIL_TIMEOUT", "20"))
# Password-reset links are good for this long.
PASSWORD_RESET_TIMEOUT = int(os.environ.get("PASSWORD_RESET_TIMEOUT", str(3 * 3600)))

# Reminders go out this long before a scheduled Space starts, and again when it starts.
SPACES_REMIND_BEFORE = timedelta(seconds=float(os.environ.get("SPACES_REMIND_BEFORE", "600")))
# Web Push (scheduling.push): the server's VAPID key pair (base64url; deploy/install makes it).
# Unset with DEBUG on: a pair is made once into var/vapid.json. Unset with DEBUG off: no push.
VAPID_PUBLIC_KEY = os.environ.get("VAPID_PUBLIC_KEY", "")
VAPID_PRIVATE_KEY = os.environ.get("VAPID_PRIVATE_KEY", "")
# Who push services contact about this server's messages (a mailto: or https: URL).
VAPID_SUBJECT = os.environ.get("VAPID_SUBJECT") or f"mailto:{re.sub(r'^.*<|>$', '', DEFAULT_FROM_EMAIL)}"
WEBPUSH_TTL = int(os.environ.get("WEBPUSH_TTL", "900"))
# Push endpoints must be https URLs of a public host (browsers' push services); a local push
# receiver over plain http is accepted only with this on (tests).
WEBPUSH_ALLOW_LOCAL_ENDPOINTS = env_bool("WEBPUSH_ALLOW_LOCAL_ENDPOINTS", False)

# Product rules.
SPACES_MAX_SPEAKERS = int(os.environ.get("SPACES_MAX_SPEAKERS", str(limits.SPEAKERS_MAX)))
SPACES_MAX_COHOSTS = int(os.environ.get("SPACES_MAX_COHOSTS", str(limits.COHOSTS_MAX)))
# Above this many present, join/leave announcements are batched once a second.
SPACES_BIG_ROOM = int(os.environ.get("SPACES_BIG_ROOM", "100"))
SPACES_PRESENCE_GRACE = timedelta(seconds=float(os.environ.get("SPACES_PRESENCE_GRACE", "10")))
# A live Space without frames for this long gets a seq frame on every socket (rooms/relay.py).
SPACES_SEQ_BEAT = float(os.environ.get("SPACES_SEQ_BEAT", "12"))
# A websocket with more than this many bytes waiting to be sent is closed with 4009 (spaces/backpressure.py).
SPACES_SEND_BUFFER_MAX = int(os.environ.get("SPACES_SEND_BUFFER_MAX", str(1024 * 1024)))
# Abuse limits (rooms.throttles): joins (websocket arrivals and API joins) per client address a
# minute; open sockets per person in one Space; reactions a second per person and per address.
SPACES_JOINS_PER_CLIENT = int(os.environ.get("SPACES_JOINS_PER_CLIENT", "60"))
SPACES_SOCKETS_PER_PERSON = int(os.environ.get("SPACES_SOCKETS_PER_PERSON", "5"))
SPACES_REACTIONS_PER_PERSON = int(os.environ.get("SPACES_REACTIONS_PER_PERSON", "5"))
SPACES_REACTIONS_PER_CLIENT = int(os.environ.get("SPACES_REACTIONS_PER_CLIENT", "20"))
# A signed-out listener who joined through the API (no websocket) is present this long, renewed
# by joining again; the share page's websocket ticket is good for this long.
SPACES_API_PRESENCE_TTL = timedelta(seconds=float(os.environ.get("SPACES_API_PRESENCE_TTL", "120")))
SPACES_WS_TICKET_MAX_AGE = int(os.environ.get("SPACES_WS_TICKET_MAX_AGE", "60"))
SPACES_HOST_GRACE = timedelta(seconds=float(os.environ.get("SPACES_HOST_GRACE", "300")))
SPACES_HOST_NEVER_CAME = timedelta(seconds=float(os.environ.get("SPACES_HOST_NEVER_CAME", "900")))
SPACES_REPLAY_KEEP = timedelta(days=int(os.environ.get("SPACES_REPLAY_DAYS", "30")))
# The beat arms starts this far ahead; a start missed by more than the late limit is marked missed.
SPACES_ARM_AHEAD = timedelta(seconds=float(os.environ.get("SPACES_ARM_AHEAD", "60")))
SPACES_START_LATE_LIMIT = timedelta(seconds=float(os.environ.get("SPACES_START_LATE_LIMIT", "3600")))

# Media: the Janus WebRTC server (see rooms/media.py and deploy/janus/). With DEBUG on, unset
# secrets are derived from SECRET_KEY so a local run needs no configuration; with DEBUG off every
# one must be set (unless Janus is off: then unset ones are random, and nothing uses them).
_janus_enabled = env_bool("JANUS_ENABLED", True)
_janus_unset = [
    name
    for name in ("JANUS_ADMIN_KEY", "JANUS_ADMIN_SECRET", "JANUS_ROOM_SECRET", "JANUS_TOKEN_SECRET", "JANUS_EVENTS_SECRET")
    if not os.environ.get(name)
]
if _janus_unset and _janus_enabled and not DEBUG:
    raise RuntimeError(f"Set {', '.join(_janus_unset)} when SPACES_DEBUG is off (or turn Janus off: JANUS_ENABLED=0).")


def janus_secret(name: str, purpose: str) -> str:
    import hashlib
    import hmac
    import secrets

    if os.environ.get(name):
        return os.environ[name]
    if not DEBUG:
        return secrets.token_hex(20)
    return hmac.new(SECRET_KEY.encode(), purpose.encode(), hashlib.sha256).hexdigest()[:40]


JANUS_HTTP_PORT = int(os.environ.get("JANUS_HTTP_PORT", "8088"))
JANUS_ADMIN_PORT = int(os.environ.get("JANUS_ADMIN_PORT", "7088"))
JANUS = {
    # The app's control API and Janus's admin API: loopback only (HTTP_BIND).
    "URL": os.environ.get("JANUS_URL", f"http://127.0.0.1:{JANUS_HTTP_PORT}/janus"),
    "ADMIN_URL": os.environ.get("JANUS_ADMIN_URL", f"http://127.0.0.1:{JANUS_ADMIN_PORT}/admin"),
    # What browsers connect to; empty means "ws://<the page's host>:WS_PORT".
    "PUBLIC_URL": os.environ.get("JANUS_PUBLIC_URL", ""),
    "HTTP_PORT": JANUS_HTTP_PORT,
    "ADMIN_PORT": JANUS_ADMIN_PORT,
    "HTTP_BIND": os.environ.get("JANUS_HTTP_BIND", "127.0.0.1"),
    "WS_PORT": int(os.environ.get("JANUS_WS_PORT", "8188")),
    # The browser-facing websocket: loopback by default; 0.0.0.0 to demo on a LAN.
    "WS_BIND": os.environ.get("JANUS_WS_BIND", "127.0.0.1"),
    "RTP_RANGE": os.environ.get("JANUS_RTP_RANGE", "20000-20999"),
    # Janus's nat_1_1_mapping: the address(es) browsers are told to send media to instead of the
    # interfaces' own, behind a 1:1 NAT (most clouds); empty: none (deploy/install sets it).
    "PUBLIC_IP": env_list("JANUS_PUBLIC_IP", ""),
    # Janus's ice_enforce_list: the interfaces or address prefixes it gathers candidates on;
    # empty: every interface but loopback.
    "ICE_ENFORCE_LIST": env_list("JANUS_ICE_ENFORCE_LIST", ""),
    # Streaming mountpoints receive the room mix on ports Janus picks here (outside the RTP range),
    # bound to FORWARD_IFACE only, so nobody off this machine can send audio into a Space.
    "FORWARD_PORT_BASE": int(os.environ.get("JANUS_FORWARD_PORT_BASE", "22000")),
    "FORWARD_PORT_COUNT": int(os.environ.get("JANUS_FORWARD_PORT_COUNT", "2000")),
    "FORWARD_IFACE": os.environ.get("JANUS_FORWARD_IFACE", "127.0.0.1"),
    # Audio per packet that listeners receive (rooms.media.packer): 20 (the room's mix as the
    # AudioBridge encodes it, forwarded straight to the mountpoints), 40 or 60 (the room's 20 ms
    # frames packed by this node's packer, on FORWARD_IFACE:PACKER_PORT: a third of the packets,
    # so about half of Janus's CPU per listener, for 40 ms more delay; docs/MEDIA.md).
    "LISTENER_PACKET_MS": os.environ.get("JANUS_LISTENER_PACKET_MS", "60"),
    "PACKER_PORT": int(os.environ.get("JANUS_PACKER_PORT", "21999")),
    # 20 ms packets of each speaker the AudioBridge holds before mixing them (their network's
    # jitter it absorbs), a room's default_prebuffering: Janus's default is 6 (120 ms).
    "PREBUFFER_PACKETS": int(os.environ.get("JANUS_PREBUFFER_PACKETS", "3")),
    "LIB_DIR": os.environ.get("JANUS_LIB_DIR", "/usr/lib/x86_64-linux-gnu/janus"),
    "DEBUG_LEVEL": int(os.environ.get("JANUS_DEBUG_LEVEL", "3")),
    # Janus's event_loops: threads serving all PeerConnections (0: one thread per connection).
    "EVENT_LOOPS": int(os.environ.get("JANUS_EVENT_LOOPS", str(os.cpu_count() or 1))),
    "ADMIN_KEY": janus_secret("JANUS_ADMIN_KEY", "janus-admin"),
    "ADMIN_SECRET": janus_secret("JANUS_ADMIN_SECRET", "janus-admin-api"),
    "ROOM_SECRET": janus_secret("JANUS_ROOM_SECRET", "janus-room"),
    "TOKEN_SECRET": janus_secret("JANUS_TOKEN_SECRET", "janus-token"),
    "TOKEN_TTL": int(os.environ.get("JANUS_TOKEN_TTL", str(6 * 3600))),
    "EVENTS_SECRET": janus_secret("JANUS_EVENTS_SECRET", "janus-events"),
    "EVENTS_URL": os.environ.get(
        "JANUS_EVENTS_URL", f"http://127.0.0.1:{SPACES_PORT}/media/janus-events/"
    ),
    "RECORDINGS_DIR": os.environ.get("JANUS_RECORDINGS_DIR", str(MEDIA_ROOT / "recordings")),
    "ENABLED": _janus_enabled,
    "TIMEOUT": float(os.environ.get("JANUS_TIMEOUT", "5")),
}
if JANUS["LISTENER_PACKET_MS"] not in ("20", "40", "60"):
    raise RuntimeError("JANUS_LISTENER_PACKET_MS: 20, 40 or 60 (milliseconds of audio in a listener's packet).")
JANUS["LISTENER_PACKET_MS"] = int(JANUS["LISTENER_PACKET_MS"])
if not 1 <= JANUS["PREBUFFER_PACKETS"] <= 50:
    raise RuntimeError("JANUS_PREBUFFER_PACKETS: 1 to 50 packets of 20 ms.")
if not 0 < JANUS["PACKER_PORT"] < 65536:
    raise RuntimeError("JANUS_PACKER_PORT: a UDP port.")
# Janus's ICE candidates (validated here: they go into janus.jcfg's `nat` section).
for _address in JANUS["PUBLIC_IP"]:
    try:
        ipaddress.ip_address(_address)
    except ValueError:
        raise RuntimeError(f"JANUS_PUBLIC_IP: not an IP address: {_address}") from None
if any(not re.fullmatch(r"[A-Za-z0-9_.:-]+", item) for item in JANUS["ICE_ENFORCE_LIST"]):
    raise RuntimeError("JANUS_ICE_ENFORCE_LIST: interface names or address prefixes, comma-separated.")

# Several Janus nodes (rooms.media.nodes): a JSON list of {"name", "url", "admin_url",
# "public_url", "ws_port", "forward_host"}, the last being the address other nodes send a room's
# mix to (this node's mountpoints and packer listen there), and optionally "packer_port" (the
# node's JANUS_PACKER_PORT, if not this one's). Empty: the one node JANUS above describes, as
# `make run` starts it. A Space's speakers live on one node; its listeners spread over more once
# each node carrying the Space has JANUS_NODE_LISTENERS viewers (docs/SCALING.md).
JANUS_NODES = json.loads(os.environ.get("JANUS_NODES") or "[]")
_node_keys = {"name", "url", "admin_url", "public_url", "ws_port", "forward_host"}
if not isinstance(JANUS_NODES, list) or any(not isinstance(n, dict) or _node_keys - set(n) for n in JANUS_NODES):
    raise RuntimeError(f"JANUS_NODES: a JSON list of objects with the keys {', '.join(sorted(_node_keys))}.")
if len({n["name"] for n in JANUS_NODES}) != len(JANUS_NODES):
    raise RuntimeError("JANUS_NODES: every node needs its own name.")
if any(not isinstance(n.get("packer_port", 1), int) or not 0 < n.get("packer_port", 1) < 65536 for n in JANUS_NODES):
    raise RuntimeError("JANUS_NODES: a node's packer_port is a UDP port (a number).")
JANUS_NODE_LISTENERS = int(os.environ.get("JANUS_NODE_LISTENERS", "1000"))

# TURN (coturn, deploy/coturn/turnserver.conf): a relay for browsers whose network blocks UDP to
# Janus. Every media credential carries an RTCIceServer for it with a username
# "<expiry>:<holder>" signed with TURN_SECRET (coturn's use-auth-secret), good for opening relays
# for TURN_TTL seconds (pages fetch fresh credentials on every reconnect). No TURN_HOST: no TURN.
# TURN_SECRET is coturn's static-auth-secret: the app cannot make one up that coturn would know, so
# a TURN_HOST without it is refused, with DEBUG on or off. TURN_TLS_PORT=0: no turns: URL.
TURN = {
    "HOST": os.environ.get("TURN_HOST", "").strip(),
    "SECRET": os.environ.get("TURN_SECRET", ""),
    "PORT": int(os.environ.get("TURN_PORT") or "3478"),
    "TLS_PORT": int(os.environ.get("TURN_TLS_PORT") or "5349"),
    "TTL": int(os.environ.get("TURN_TTL") or "3600"),
}
if TURN["HOST"] and not TURN["SECRET"]:
    raise RuntimeError("Set TURN_SECRET (coturn's static-auth-secret) when TURN_HOST is set, or leave TURN_HOST empty: no TURN.")
if not 0 < TURN["PORT"] < 65536 or not 0 <= TURN["TLS_PORT"] < 65536 or TURN["TTL"] <= 0:
    raise RuntimeError("TURN_PORT is a port, TURN_TLS_PORT a port or 0 (no TLS), TURN_TTL a number of seconds.")

# The media server the app drives (rooms.media): Janus, or the in-memory fake the tests use.
SPACES_MEDIA_SERVER = os.environ.get("SPACES_MEDIA_SERVER", "rooms.media.janus.JanusMediaServer")
# Who else takes a room's mix (rooms.media.extra_forwards): functions of a room id giving
# (host, port, ssrc) forwards; live captions (captions/, docs/CAPTIONS.md) while they are on.
SPACES_MEDIA_FORWARDS = ["captions.forwarding.forwards"]
# Live captions: the worker (manage.py captions_worker) takes the forwarded mix of each captioned
# Space on this UDP address (loopback: only this machine can send to it).
CAPTIONS = {
    "ENABLED": env_bool("CAPTIONS_ENABLED", True),
    "HOST": os.environ.get("CAPTIONS_HOST", "127.0.0.1"),
    "PORT": int(os.environ.get("CAPTIONS_PORT", "5010")),
}

# Security: strict when DEBUG is off; each can be relaxed by environment behind a TLS proxy.
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", "0" if DEBUG else "31536000"))
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", not DEBUG)
# A request is https when the proxy says so, and only when there is a proxy to say it.
if SPACES_TRUSTED_PROXIES:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# Janus posts its events over plain HTTP to the loopback address in EVENTS_URL: that host is
# allowed, and that path is not redirected to https (the view checks its Basic auth instead).
_janus_events = urlsplit(JANUS["EVENTS_URL"])
if _janus_events.hostname:
    _host = f"[{_janus_events.hostname}]" if ":" in _janus_events.hostname else _janus_events.hostname
    if _host not in ALLOWED_HOSTS:
        ALLOWED_HOSTS.append(_host)
SECURE_REDIRECT_EXEMPT = [rf"^{re.escape(_janus_events.path.lstrip('/'))}$"] if _janus_events.scheme == "http" else []
# Probes and scrapers on this machine ask over plain http (spaces.health, spaces.metrics).
SECURE_REDIRECT_EXEMPT += [r"^healthz$", r"^metrics$"]
# /metrics answers requests from this machine, and others that carry this bearer token.
METRICS_TOKEN = os.environ.get("METRICS_TOKEN", "")
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# One line per record, with ` space=<code>` when the record is about a Space (spaces.logs);
# LOG_FORMAT=json writes JSON lines instead.
LOG_FORMAT = os.environ.get("LOG_FORMAT", "plain")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"space": {"()": "spaces.logs.SpaceFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s%(space_tag)s %(message)s"},
        "json": {"()": "spaces.logs.JSONFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json" if LOG_FORMAT == "json" else "plain",
            "filters": ["space"],
        }
    },
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.channels.server": {"level": "WARNING"}},
}
