"""gunicorn settings for the portal: ``gunicorn wsgi:app`` reads this file from the working directory;
from any other folder, ``gunicorn -c /path/to/checkout/gunicorn.conf.py portal.wsgi:app``.

Worker model: threads (``gthread``). A request spends most of its time waiting — on the database,
on a client trickling a 3 MB avatar over a poor link, on the mail server — and a waiting thread
costs little, while a sync worker would be held by one slow client and stop answering everyone
else. The CPU-heavy parts (argon2 at sign-in, decoding an image) release the GIL. Behind nginx with
request buffering the slow upload never reaches a worker at all; these settings keep the server
healthy on its own too. Every value can be set from the environment (``GUNICORN_<NAME>``).
"""

import multiprocessing
import os


def _env(name, default):
    value = os.environ.get(f"GUNICORN_{name.upper()}")
    if value is None:
        return default
    if isinstance(default, bool):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return type(default)(value)


bind = _env("bind", "127.0.0.1:8000")
workers = _env("workers", multiprocessing.cpu_count())
worker_class = "gthread"
threads = _env("threads", 16)
# Each worker listens on its own socket (SO_REUSEPORT) and the kernel spreads new connections
# evenly over them. On one shared socket, whichever worker wakes first accepts, and kept-alive
# connections stay where they landed: a load balancer's 32 pooled connections often all ended up in
# one worker, which then served a third of what two did while the other idled. The price: a worker
# that dies drops the connections still waiting in its own queue (on Linux 5.14+ set
# net.ipv4.tcp_migrate_req=1 to hand them to the others), and a second server started on the same
# port by the same user shares it instead of failing. GUNICORN_REUSE_PORT=false goes back.
reuse_port = _env("reuse_port", True)
# A worker that answers nothing for this long is replaced; slow uploads are bounded by
# MAX_CONTENT_LENGTH and by the client's own pace, not by this.
timeout = _env("timeout", 60)
graceful_timeout = _env("graceful_timeout", 30)
keepalive = _env("keepalive", 5)
# Request line and header limits (gunicorn's defaults, written down): the body is bounded by the app.
limit_request_line = 8190
limit_request_fields = 100
limit_request_field_size = 8190
# Workers are not recycled (gunicorn's default): a new worker imports the whole app again, a second
# of CPU taken from the others, which every 10,000 requests showed as dips under load. Set
# GUNICORN_MAX_REQUESTS (and _JITTER) to recycle them if memory ever grows.
max_requests = _env("max_requests", 0)
max_requests_jitter = _env("max_requests_jitter", 0)
# The app writes one JSON line per request (with its request id) in production; gunicorn's own
# access log would say the same without the id.
accesslog = None
errorlog = "-"
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")


def post_worker_init(worker):
    """Each worker, once started, delivers any mail a stopped worker left in the outbox (unless a
    separate mail worker does: MAIL_DELIVERY=worker). Any other WSGI app served with these settings
    (the scale-out tests serve a bare one) has no courier and nothing to deliver."""
    # Recognised by its import name, without importing anything: another app served from this
    # folder may run where neither Flask nor the portal is installed. The portal's own app has
    # already imported both by now.
    if getattr(worker.wsgi, "import_name", None) != "portal":
        return
    from portal.services.mail.courier import courier_of

    courier = courier_of(worker.wsgi)
    if courier is not None:
        courier.wake()
