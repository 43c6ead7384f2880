"""Slow clients when uvicorn faces the internet: half-sent requests
(slowloris) neither exhaust file descriptors nor starve real clients, and
are cut off at the header deadline."""

from __future__ import annotations

import resource
import socket
import time

import httpx
import pytest

from tests.support import ServerProcess, subprocess_env

pytestmark = pytest.mark.slow

SLOW_CONNECTIONS = 1_100
HALF_A_REQUEST = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "


def _slow_connection(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(HALF_A_REQUEST)
    return sock


def test_a_real_client_is_served_while_1100_slow_connections_are_open(tmp_path):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 4096)), hard))
    env = subprocess_env(MEMORYGATE_DATA_DIR=str(tmp_path), EMBEDDING_PROVIDER="none", HEADER_TIMEOUT="30")
    # Started the way most systems start a process: 1,024 open files allowed.
    server = ServerProcess(env, open_files=1024).start()
    slow: list[socket.socket] = []
    try:
        slow = [_slow_connection(server.port) for _ in range(SLOW_CONNECTIONS)]
        started = time.perf_counter()
        health = httpx.get(server.url + "/health", timeout=10)
        assert health.status_code == 200 and time.perf_counter() - started < 2.0
        assert "Too many open files" not in server.log
    finally:
        for sock in slow:
            sock.close()
        assert server.terminate()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_a_request_whose_headers_never_finish_is_cut_off_at_the_deadline(tmp_path):
    env = subprocess_env(MEMORYGATE_DATA_DIR=str(tmp_path), EMBEDDING_PROVIDER="none", HEADER_TIMEOUT="1")
    server = ServerProcess(env).start()
    try:
        with _slow_connection(server.port) as sock:
            started = time.perf_counter()
            assert sock.recv(1024) == b""  # the server closed it (recv waits at most 10 s)
            assert 0.9 <= time.perf_counter() - started < 5.0
        # A kept-alive connection that starts a second request and stalls is cut off too.
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            assert _read_response(sock).startswith(b"HTTP/1.1 200 OK")
            sock.sendall(b"GET /health HTTP/1.1\r\n")
            started = time.perf_counter()
            assert sock.recv(1024) == b"" and time.perf_counter() - started < 5.0
    finally:
        assert server.terminate()


def _read_response(sock: socket.socket) -> bytes:
    """One whole response with a Content-Length body, leaving the connection open."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(
        next(line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length"))
    )
    while len(body) < length:
        body += sock.recv(65536)
    return data


def test_a_body_that_stops_arriving_is_cut_off_at_the_deadline(tmp_path):
    env = subprocess_env(MEMORYGATE_DATA_DIR=str(tmp_path), EMBEDDING_PROVIDER="none", BODY_TIMEOUT="1")
    server = ServerProcess(env).start()
    head = b"POST /oauth/register HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    try:
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            sock.sendall(head + b"Content-Length: 500000\r\n\r\n" + b'{"client_name": "' + b"x" * 4096)
            started = time.perf_counter()
            assert sock.recv(1024) == b""  # closed: what it sent is released
            assert 0.9 <= time.perf_counter() - started < 5.0
        # The server goes on serving everyone else.
        health = httpx.get(server.url + "/health", timeout=10)
        assert health.status_code == 200
    finally:
        assert server.terminate()
