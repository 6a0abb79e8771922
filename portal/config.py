"""Configuration classes, and the steps that complete them from the environment.

Order of precedence, lowest first: the class, ``FLASK_<KEY>`` variables (Flask's
``from_prefixed_env``), the plain ``SECRET_KEY`` / ``DATABASE_URL`` variables, then any
overrides the caller passes to ``create_app`` (tests do).
"""

import os
import secrets
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit


class Config:
    # The environment variable that names the database; tests read their own so that they can
    # never drop the tables of the database a shell has DATABASE_URL pointing at.
    DATABASE_URL_VARIABLE = "DATABASE_URL"
    SECRET_KEY = None
    SQLALCHEMY_DATABASE_URI = None  # None: SQLite in the instance folder
    SQLALCHEMY_ENGINE_OPTIONS = {}
    # Connections each process keeps open: one per gunicorn thread (gunicorn.conf.py runs 16), so a
    # busy worker never opens and closes connections per request, as SQLAlchemy's default of 5 made
    # it do. DATABASE_MAX_OVERFLOW more are opened for bursts (mail threads, the CLI) and closed after.
    DATABASE_POOL_SIZE = 16
    DATABASE_MAX_OVERFLOW = 8

    # Public origin used for absolute URLs (avatars, mail links), e.g. "https://accounts.example.com".
    # When unset, the request's host is used, and only hosts in TRUSTED_HOSTS are accepted.
    PUBLIC_BASE_URL = None
    TRUSTED_HOSTS = None
    # Number of reverse proxies in front of the app whose X-Forwarded-* headers are believed.
    TRUSTED_PROXY_COUNT = 0

    # None: <instance folder>/uploads, beside the SQLite file and the secret key. Never a folder found from
    # the package's own place: an installed package lives in site-packages, which is no place for data.
    UPLOAD_FOLDER = None
    # Where avatar images live: "filesystem" (UPLOAD_FOLDER) or "database" (shared by every app server).
    AVATAR_STORAGE = "filesystem"
    AVATAR_MAX_BYTES = 5 * 1024 * 1024
    AVATAR_MAX_PIXELS = 40_000_000
    AVATAR_SIZE = 512
    # Whole-request ceiling: one avatar plus the form fields around it. Larger bodies get 413.
    MAX_CONTENT_LENGTH = 6 * 1024 * 1024

    JWT_ACCESS_TOKEN_EXPIRES = timedelta(minutes=15)
    JWT_REFRESH_TOKEN_EXPIRES = timedelta(days=7)
    # One algorithm, signed and checked; tokens name who issued them and for whom, and are read
    # from the Authorization header only (never a query string, a body or a cookie).
    JWT_ALGORITHM = "HS256"
    JWT_DECODE_ALGORITHMS = ["HS256"]
    JWT_ENCODE_ISSUER = JWT_DECODE_ISSUER = "account-portal"
    JWT_ENCODE_AUDIENCE = JWT_DECODE_AUDIENCE = "account-portal-api"
    JWT_TOKEN_LOCATION = ["headers"]
    # The portal as an OpenID provider: how long a retired signing key stays published (and its tokens
    # verify) after a newer one took over. Longer than any token it signs lives.
    SIGNING_KEY_RETIREMENT = timedelta(days=1)

    # Logs: level of the "portal" loggers; one line per request; JSON lines (production).
    LOG_LEVEL = "INFO"
    LOG_REQUESTS = False
    LOG_JSON = False

    # Strict-Transport-Security max-age; 0 sends none (production sends a year).
    HSTS_SECONDS = 0
    # Origins (e.g. ["https://app.example.com"]) whose browser scripts may call the API; none by default.
    CORS_ORIGINS: list[str] = []

    # argon2id cost: the first of OWASP's Password Storage Cheat Sheet settings (m=46 MiB, t=1, p=1).
    # Stored hashes made with other settings are upgraded at the next successful sign-in.
    PASSWORD_HASH_TIME_COST = 1
    PASSWORD_HASH_MEMORY_COST = 47104
    PASSWORD_HASH_PARALLELISM = 1
    # New passwords are looked up in Have I Been Pwned's breach data, by k-anonymity: only the first
    # five hex characters of the password's SHA-1 are sent (portal/services/people/breaches.py). On in
    # production; off in development and tests unless set (FLASK_PASSWORD_BREACH_CHECK=true).
    PASSWORD_BREACH_CHECK = False
    PASSWORD_BREACH_API_URL = "https://api.pwnedpasswords.com"
    # Seconds a sign-up, password change or sign-in waits for the answer at most; without one in
    # time the password is accepted and a warning logged.
    PASSWORD_BREACH_TIMEOUT = 2.0

    EMAIL_CODE_TTL = timedelta(minutes=10)
    EMAIL_CODE_MAX_ATTEMPTS = 5
    PASSWORD_RESET_TTL = timedelta(hours=1)

    MAIL_TRANSPORT = "files"  # "files" (the console and .eml files in MAIL_OUTBOX_DIR) or "smtp"
    MAIL_OUTBOX_DIR = None  # None: <instance>/outbox
    MAIL_FROM = "Account portal <no-reply@localhost>"  # its name is written in each mail's language if translated
    MAIL_SERVER = "localhost"
    MAIL_PORT = 25
    MAIL_USE_TLS = False  # STARTTLS after connecting
    MAIL_USE_SSL = False  # TLS from the first byte (port 465)
    MAIL_CA_FILE = None  # a private CA to trust for the SMTP server's certificate
    MAIL_USERNAME = None
    MAIL_PASSWORD = None
    MAIL_TIMEOUT = 10
    # Who delivers the outbox: "app" (each app process delivers what it queued; nothing else to run)
    # or "worker" (only `flask deliver-mail --watch` does).
    MAIL_DELIVERY = "app"
    # A refused or failed delivery is tried again after this, doubling each time up to the maximum,
    # until MAIL_GIVE_UP_AFTER has passed since the message was queued.
    MAIL_RETRY_BACKOFF = timedelta(seconds=30)
    MAIL_RETRY_MAX_INTERVAL = timedelta(hours=1)
    MAIL_GIVE_UP_AFTER = timedelta(hours=24)
    # How long a deliverer owns a message it took; a deliverer that died is replaced after this.
    MAIL_CLAIM_LEASE = timedelta(minutes=5)
    # Sent and given-up messages are listed for staff this long (their content is erased at once).
    MAIL_KEEP_FINISHED = timedelta(days=7)
    # How often a deliverer looks again while messages wait for a retry (or, as a worker, for new mail).
    MAIL_POLL_INTERVAL = timedelta(seconds=5)

    RATELIMIT_ENABLED = True
    RATELIMIT_STORAGE_URI = "memory://"
    RATELIMIT_HEADERS_ENABLED = True
    RATELIMIT_SIGN_IN = "10 per minute"
    RATELIMIT_REFRESH = "60 per minute"
    RATELIMIT_REGISTER = "10 per hour"
    RATELIMIT_CODE = "5 per 10 minutes"
    RATELIMIT_VERIFY = "10 per 10 minutes"
    RATELIMIT_PASSWORD_RESET = "5 per hour"
    RATELIMIT_PASSWORD_RESET_CONFIRM = "10 per hour"
    # Routes that check the current password of a signed-in caller (delete account, set password).
    RATELIMIT_PASSWORD_CHECK = "10 per hour"
    # Nobody locks the owner out (portal/limits.py). A browser that signed in to an account keeps a
    # device cookie this long (each sign-in renews it) and is never held back by failures from
    # elsewhere. When unknown sources spend an account's RATELIMIT_SIGN_IN allowance with failures,
    # they alone are locked out for SIGN_IN_LOCKOUT, doubled for each lockout that follows within
    # SIGN_IN_LOCKOUT_RESET of the last, up to SIGN_IN_LOCKOUT_MAX; the owner is mailed each time.
    DEVICE_COOKIE_LIFETIME = timedelta(days=365)
    SIGN_IN_LOCKOUT = timedelta(minutes=1)
    SIGN_IN_LOCKOUT_MAX = timedelta(hours=1)
    SIGN_IN_LOCKOUT_RESET = timedelta(days=1)

    WTF_CSRF_TIME_LIMIT = None  # the token lives as long as the session
    SESSION_COOKIE_NAME = "portal_session"
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    # A browser sign-in without "remember me" lasts until the browser closes, and at most this long.
    BROWSER_SESSION_LIFETIME = timedelta(hours=12)
    # "Remember me": the cookie and its session row live this long at most (Flask's own key).
    PERMANENT_SESSION_LIFETIME = timedelta(days=30)
    # "Last used" of a credential is written at most this often, so authenticated reads stay reads.
    # It is also what the inactivity timeout measures, so it stays small beside the shortest limit.
    CREDENTIAL_TOUCH_INTERVAL = timedelta(minutes=1)
    # Inactivity timeout (NIST SP 800-63B; README "Inactivity timeout"): a browser session or an API
    # (JWT) sign-in left unused this long ends, whatever its absolute lifetime has left. Staff, whose
    # sessions open other people's accounts, get the AAL2 figure; people a week.
    SESSION_IDLE_TIMEOUT = timedelta(days=7)
    STAFF_SESSION_IDLE_TIMEOUT = timedelta(minutes=30)

    # Two-step sign-in. After the first step (a password, an emailed code) an account with a second
    # factor gets a pending sign-in that lives this long and allows this many wrong codes.
    TWO_FACTOR_PENDING_TTL = timedelta(minutes=5)
    TWO_FACTOR_MAX_ATTEMPTS = 5
    # Across pending sign-ins, an account allows this many wrong second steps in a row (NIST SP
    # 800-63B 5.2.2); then codes from the app are refused until a recovery code or a passkey signs
    # in, or the password is reset. The person is mailed at the TWO_FACTOR_FAILURE_MAIL_AT-th.
    TWO_FACTOR_FAILURE_BUDGET = 100
    TWO_FACTOR_FAILURE_MAIL_AT = 5
    # Other providers people sign in with (README "Signing in with another account"):
    # {"<key>": {"kind": "oidc" | "google" | "github", "name", "client_id", "client_secret", "issuer",
    # "scopes", "audiences", and for GitHub Enterprise "authorize_url", "token_url", "api_url"}}, or
    # its JSON in FLASK_SOCIAL_PROVIDERS. Calls to a provider give up after PROVIDER_TIMEOUT seconds;
    # an account at a provider offered for linking waits PROVIDER_LINK_TTL for its account's sign-in.
    SOCIAL_PROVIDERS: dict = {}
    PROVIDER_TIMEOUT = 10
    PROVIDER_LINK_TTL = timedelta(minutes=10)
    # The portal as an OpenID provider (README "Sign in with the portal"): how long an app's access
    # tokens and ID tokens live, and how long its refresh tokens (offline_access) last unused.
    OIDC_ACCESS_TOKEN_EXPIRES = timedelta(minutes=5)
    OIDC_ID_TOKEN_EXPIRES = timedelta(minutes=10)
    OIDC_REFRESH_TOKEN_EXPIRES = timedelta(days=30)
    # The name an authenticator app shows beside the account, and a passkey's relying-party name.
    TOTP_ISSUER = "Account portal"
    WEBAUTHN_RP_NAME = "Account portal"
    # A WebAuthn challenge (passkey registration or sign-in) must be answered within this time.
    WEBAUTHN_CHALLENGE_TTL = timedelta(minutes=5)
    # Pages that change how an account signs in ask for the password again when the session's
    # last proof is older than this.
    REAUTHENTICATION_AFTER = timedelta(minutes=10)
    # Staff without a second factor are sent to set one up before they may open the admin.
    STAFF_REQUIRE_TWO_FACTOR = False

    # A mail to the person when their account signs in from a browser (or, through the API, from an
    # address) it has not signed in from within SIGN_IN_ALERT_WINDOW, with a "This wasn't me" link
    # that works once within SIGN_IN_ALERT_LINK_TTL. Each person can turn the mails off; False turns
    # them off for everyone, and sign-ins then remember nothing.
    SIGN_IN_ALERTS = True
    SIGN_IN_ALERT_WINDOW = timedelta(days=90)
    SIGN_IN_ALERT_LINK_TTL = timedelta(days=7)


class DevConfig(Config):
    TRUSTED_HOSTS = ["localhost", "127.0.0.1"]


class TestConfig(Config):
    DATABASE_URL_VARIABLE = "TEST_DATABASE_URL"
    TESTING = True
    SECRET_KEY = "test-secret-key-that-is-long-enough-for-hs256"
    SQLALCHEMY_DATABASE_URI = "sqlite://"
    TRUSTED_HOSTS = ["localhost", "127.0.0.1"]
    WTF_CSRF_ENABLED = False
    RATELIMIT_ENABLED = False
    PASSWORD_HASH_TIME_COST = 1
    PASSWORD_HASH_MEMORY_COST = 1024
    PASSWORD_HASH_PARALLELISM = 1


class ProdConfig(Config):
    STAFF_REQUIRE_TWO_FACTOR = True
    HSTS_SECONDS = 31536000
    LOG_REQUESTS = True
    LOG_JSON = True
    SESSION_COOKIE_SECURE = True
    REMEMBER_COOKIE_SECURE = True
    MAIL_TRANSPORT = "smtp"
    PASSWORD_BREACH_CHECK = True


CONFIGS = {"development": DevConfig, "testing": TestConfig, "production": ProdConfig}


def load(app, config, overrides):
    """Fill ``app.config`` from the class, the environment and the overrides, then finish it."""
    if config is None:
        config = os.environ.get("PORTAL_ENV", "development")
    if isinstance(config, str):
        try:
            config = CONFIGS[config]
        except KeyError:
            raise RuntimeError(f"Unknown PORTAL_ENV {config!r}; use one of {', '.join(CONFIGS)}.") from None
    app.config.from_object(config)
    app.config.from_prefixed_env()
    if os.environ.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = os.environ["SECRET_KEY"]
    if database_url := os.environ.get(config.DATABASE_URL_VARIABLE):
        app.config["SQLALCHEMY_DATABASE_URI"] = database_url
    app.config.update(overrides or {})
    _finish(app, production=config is ProdConfig)


def _finish(app, production):
    cfg = app.config
    instance = Path(app.instance_path)
    # Parts that are strict only in production (a language without its catalogue stops the start) read this.
    cfg["PRODUCTION"] = production
    if production:
        if not cfg.get("SECRET_KEY"):
            raise RuntimeError(
                "SECRET_KEY is not set. A production start needs SECRET_KEY in the environment "
                "(e.g. `export SECRET_KEY=$(python -c 'import secrets; print(secrets.token_hex(32))')`)."
            )
        if not cfg.get("PUBLIC_BASE_URL") and not cfg.get("TRUSTED_HOSTS"):
            raise RuntimeError(
                "Set FLASK_PUBLIC_BASE_URL (e.g. https://accounts.example.com) or FLASK_TRUSTED_HOSTS "
                "so absolute URLs are never built from an untrusted Host header."
            )
    elif not cfg.get("SECRET_KEY"):
        cfg["SECRET_KEY"] = _instance_secret(instance)

    uri = cfg.get("SQLALCHEMY_DATABASE_URI")
    if not uri:
        instance.mkdir(parents=True, exist_ok=True)
        uri = f"sqlite:///{instance / 'portal.sqlite'}"
    # Heroku-style URLs name the driver "postgres"; SQLAlchemy wants psycopg 3 spelled out.
    for prefix in ("postgres://", "postgresql://"):
        if uri.startswith(prefix):
            uri = "postgresql+psycopg://" + uri[len(prefix):]
    cfg["SQLALCHEMY_DATABASE_URI"] = uri
    cfg["SQLALCHEMY_ENGINE_OPTIONS"] = {**_pool_options(cfg, uri), **cfg["SQLALCHEMY_ENGINE_OPTIONS"]}
    if cfg.get("TRUSTED_HOSTS") is not None and isinstance(cfg["TRUSTED_HOSTS"], str):
        cfg["TRUSTED_HOSTS"] = [h.strip() for h in cfg["TRUSTED_HOSTS"].split(",") if h.strip()]

    # Durations may come from the environment as seconds (FLASK_MAIL_GIVE_UP_AFTER=3600).
    for key, default in vars(Config).items():
        if isinstance(default, timedelta) and isinstance(cfg.get(key), int | float) and not isinstance(cfg[key], bool):
            cfg[key] = timedelta(seconds=cfg[key])
    breach_api = urlsplit(str(cfg.get("PASSWORD_BREACH_API_URL") or ""))
    if cfg.get("PASSWORD_BREACH_CHECK") and (breach_api.scheme not in ("http", "https") or not breach_api.hostname):
        raise RuntimeError("PASSWORD_BREACH_API_URL must be an http(s) URL, e.g. https://api.pwnedpasswords.com.")
    if cfg.get("MAIL_TRANSPORT") == "outbox":  # the development transport's earlier name
        cfg["MAIL_TRANSPORT"] = "files"

    cfg["UPLOAD_FOLDER"] = str(Path(cfg.get("UPLOAD_FOLDER") or instance / "uploads"))
    cfg["MAIL_OUTBOX_DIR"] = str(Path(cfg.get("MAIL_OUTBOX_DIR") or instance / "outbox"))


def _pool_options(cfg, uri: str) -> dict:
    """How the engine pools connections.

    An in-memory SQLite database is one connection that Flask-SQLAlchemy shares, and takes no pool
    settings. A database server may drop a connection that sat idle (a restart, a failover), so its
    connections are tested before use when they sat idle (``plumbing.driver.test_when_idle``, set up
    with the extensions); a SQLite file cannot drop one.

    A server's pool hands out the connection returned last (``pool_use_lifo``): a read holds its
    connection only for its query, so a few connections carry the load and their server processes
    stay warm, where the default first-in-first-out order woke all sixteen in turn (PostgreSQL's
    CPU per API read 10–15 % less, 16 threads reading); those left over sit idle, to be tested
    before their next use.
    """
    if uri in ("sqlite://", "sqlite:///:memory:") or "mode=memory" in uri:
        return {}
    options = {"pool_size": cfg["DATABASE_POOL_SIZE"], "max_overflow": cfg["DATABASE_MAX_OVERFLOW"]}
    if not uri.startswith("sqlite"):
        options["pool_use_lifo"] = True
    return options


def _instance_secret(instance: Path) -> str:
    """The embedded default's secret: made once, kept in the instance folder, readable by its owner only."""
    path = instance / "secret_key"
    if path.exists():
        return path.read_text().strip()
    instance.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key)
    return key
