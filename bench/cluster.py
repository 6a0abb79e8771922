"""The production layout on one machine, for the scale-out test and the load run: gunicorn servers
started from the repository's own gunicorn.conf.py, nginx in front of them as the example site
does it (request buffering, retries on the next server), all on loopback ports."""

import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def gunicorn_command(app: str, port: int) -> list[str]:
    """gunicorn with the repository's gunicorn.conf.py, serving ``app`` (``module:name``) on loopback."""
    return [str(BIN / "gunicorn"), "-c", str(ROOT / "gunicorn.conf.py"), "--bind", f"127.0.0.1:{port}", app]


def stop(processes: list[subprocess.Popen]) -> None:
    """Stop ``processes``, the last started first; one that ignores a terminate for 10 s is killed."""
    for process in reversed(processes):
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def wait_for_port(port: int, process: subprocess.Popen, seconds: float = 30) -> None:
    """Wait until something listens on ``port``; fail if ``process`` exits first."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args[0]} exited with {process.returncode}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on port {port}")


def local_nginx_conf(prefix: Path, http: str) -> Path:
    """``prefix``/nginx.conf: an nginx in the foreground that keeps its pid, log and temporary files
    under ``prefix``, with ``http`` inside its ``http`` block."""
    conf = prefix / "nginx.conf"
    conf.write_text(f"""
daemon off;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
{http}
}}
""")
    return conf


def nginx_conf(prefix: Path, listen: int, upstreams: list[int]) -> Path:
    """An nginx configuration under ``prefix``: one site on ``listen`` in front of ``upstreams``,
    proxied the way deploy/nginx-portal.conf does it, without TLS."""
    servers = "\n".join(f"        server 127.0.0.1:{port} max_fails=1 fail_timeout=30s;" for port in upstreams)
    return local_nginx_conf(prefix, f"""
    upstream portal {{
{servers}
        keepalive 32;
    }}
    server {{
        listen 127.0.0.1:{listen};
        client_max_body_size 6m;
        proxy_request_buffering on;
        # Whole bodies in memory: started as root, nginx's workers run unprivileged and could not
        # write buffer files under a private temporary folder.
        client_body_buffer_size 6m;
        location / {{
            proxy_pass http://portal;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host:$server_port;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header X-Request-ID $request_id;
            proxy_next_upstream error timeout http_502;
            proxy_connect_timeout 2s;
        }}
    }}""")


@dataclass
class Cluster:
    nginx_port: int  # where clients connect
    server_ports: list[int]
    processes: list[subprocess.Popen]  # the servers' gunicorn masters, each leading a session of its own

    @property
    def nginx(self) -> str:
        return f"http://127.0.0.1:{self.nginx_port}"

    @property
    def servers(self) -> list[str]:
        return [f"http://127.0.0.1:{port}" for port in self.server_ports]


@contextmanager
def running_cluster(env: dict, work: Path) -> Iterator[Cluster]:
    """Redis, two servers and nginx in front of them, started with ``env`` plus the layout's own
    settings: rate-limit counters in that Redis, avatars in the database, one proxy hop believed.
    The database is ``env``'s DATABASE_URL, ready before. Everything is stopped on leaving."""
    redis_port, nginx_port = free_port(), free_port()
    server_ports = [free_port(), free_port()]
    env = {
        **env, "FLASK_RATELIMIT_STORAGE_URI": f"redis://127.0.0.1:{redis_port}/0", "FLASK_AVATAR_STORAGE": "database",
        "FLASK_TRUSTED_PROXY_COUNT": "1",
    }
    prefix = work / "nginx"
    prefix.mkdir()
    conf = nginx_conf(prefix, nginx_port, server_ports)
    processes, servers = [], []

    def start(command, port, **options):
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                   **options)
        processes.append(process)
        wait_for_port(port, process)
        return process

    try:
        start([shutil.which("redis-server") or "/usr/bin/redis-server", "--port", str(redis_port),
               "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], redis_port)
        # A session of its own: a test may kill a server's master and workers at once (killpg).
        servers = [start(gunicorn_command("wsgi:app", port), port, start_new_session=True) for port in server_ports]
        start([shutil.which("nginx") or "/usr/sbin/nginx", "-c", str(conf), "-p", str(prefix)], nginx_port)
        yield Cluster(nginx_port, server_ports, servers)
    finally:
        stop(processes)
