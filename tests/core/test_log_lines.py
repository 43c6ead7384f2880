"""What a running server writes: JSON lines with request ids, and a client
hanging up is routine, not an error."""

from __future__ import annotations

import json
import socket
import time

import httpx
import pytest

from core.logs import CLIENT_GONE
from tests.support import ServerProcess, key_from_cli_output, run_cli, subprocess_env

pytestmark = pytest.mark.slow


def test_a_client_that_hangs_up_mid_request_is_one_info_line(tmp_path):
    server = ServerProcess(subprocess_env(MEMORYGATE_DATA_DIR=str(tmp_path), EMBEDDING_PROVIDER="none")).start()
    try:
        key = key_from_cli_output(run_cli("create-key", env=server.env).stdout)
        head = (
            f"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nAuthorization: Bearer {key}\r\n"
            "Accept: application/json, text/event-stream\r\nContent-Type: application/json\r\n"
            "Content-Length: 1000\r\n\r\n"
        )
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            sock.sendall(head.encode() + b'{"jsonrpc": "2.0", ')  # and hangs up before the rest
        deadline = time.monotonic() + 30
        while CLIENT_GONE not in server.log:
            assert time.monotonic() < deadline, server.log[-3000:]
            time.sleep(0.05)
        assert httpx.get(server.url + "/health").status_code == 200
    finally:
        assert server.terminate()
    lines = [json.loads(line) for line in server.log.splitlines() if line.startswith("{")]
    gone = [line for line in lines if line["message"] == CLIENT_GONE]
    assert len(gone) == 1 and gone[0]["level"] == "INFO" and gone[0]["request_id"]
    assert "exception" not in gone[0] and "Traceback" not in server.log
    assert not [line for line in lines if line["level"] in ("ERROR", "CRITICAL")]
