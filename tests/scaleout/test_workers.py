"""The repository's gunicorn.conf.py deals a pool of kept-alive connections out over its workers.

A load balancer keeps a pool of connections open to each server, and a kept-alive connection stays
with the worker that took it. On one shared listening socket, a pool opened while one worker was
busy could land whole in the other (``make bench`` saw all 32 of wrk's in one worker, which then
served a third of what two did); with a socket per worker the kernel deals them out. These tests
hold the mechanism (each worker listens on a socket of its own) and the outcome (both workers take a
fair share of connections opened at once).
"""

import http.client
import os
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest

from bench.cluster import ROOT, free_port, gunicorn_command, stop, wait_for_port

pytestmark = pytest.mark.scaleout

CONNECTIONS = 32


def listening_sockets(port: int) -> set[str]:
    """The inodes of the sockets listening on ``port`` on loopback (IPv4)."""
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[3] == "0A" and int(fields[1].split(":")[1], 16) == port:  # 0A: LISTEN
            inodes.add(fields[9])
    return inodes


def sockets_held_by(pid: int) -> set[str]:
    held = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:  # closed meanwhile
            continue
        if target.startswith("socket:["):
            held.add(target[len("socket:["):-1])
    return held


@pytest.fixture
def two_workers():
    port = free_port()
    env = {**os.environ, "GUNICORN_WORKERS": "2", "GUNICORN_THREADS": "4"}
    server = subprocess.Popen(gunicorn_command("tests.scaleout.worker_pid_app:app", port), cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port, server)
        # Ready when both workers listen: the second may boot a moment after the first.
        seen, deadline = set(), time.monotonic() + 30
        while len(seen) < 2 and time.monotonic() < deadline:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            seen.add(served_by(connection))
            connection.close()
            time.sleep(0.01)
        yield port, server.pid
    finally:
        stop([server])


def served_by(connection) -> str:
    connection.request("GET", "/")
    return connection.getresponse().read().decode()


def test_each_worker_listens_on_a_socket_of_its_own(two_workers):
    port, server = two_workers
    workers = [int(pid) for pid in Path(f"/proc/{server}/task/{server}/children").read_text().split()]
    listening = listening_sockets(port)
    held = [sockets_held_by(worker) & listening for worker in workers]

    assert len(workers) == 2 and len(listening) == 2
    assert all(len(sockets) == 1 for sockets in held) and held[0] != held[1]
    assert not sockets_held_by(server) & listening  # the master keeps none to hand down


def test_kept_alive_connections_are_spread_over_both_workers(two_workers):
    port, _ = two_workers
    connections = [http.client.HTTPConnection("127.0.0.1", port, timeout=10) for _ in range(CONNECTIONS)]
    for connection in connections:  # all at once, as a load balancer's pool or a load generator does
        connection.connect()
    try:
        first = [served_by(connection) for connection in connections]
        again = [served_by(connection) for connection in connections]
    finally:
        for connection in connections:
            connection.close()
    assert first == again  # kept alive: each connection stays with its worker
    per_worker = Counter(first)
    assert len(per_worker) == 2, per_worker
    # Dealt out by a hash: each worker's share is far from nothing (fewer than 4 of 32 happens
    # about once in 100,000 runs).
    assert min(per_worker.values()) >= 4, per_worker
