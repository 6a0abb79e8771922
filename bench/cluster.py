"""The production layout on one machine, for the scale-out test and the load run: gunicorn servers
started from the repository's own gunicorn.conf.py, nginx in front of them as the example site
does it (request buffering, retries on the next server), all on loopback ports."""

import socket
import subprocess
import time
from pathlib import Path


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


def nginx_conf(prefix: Path, listen: int, upstreams: list[int]) -> Path:
    """An nginx configuration under ``prefix``: one site on ``listen`` in front of ``upstreams``,
    proxied the way deploy/nginx-portal.conf does it, without TLS."""
    servers = "\n".join(f"        server 127.0.0.1:{port} max_fails=1 fail_timeout=30s;" for port in upstreams)
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
    }}
}}
""")
    return conf
