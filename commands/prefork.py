"""Several server processes on one listening socket.

Python runs one thread at a time per process, so one process serves about
one core's worth of requests however many threads it has. ``serve_processes``
forks the workers, which all accept connections on one port. On Linux each
worker listens on a socket of its own (SO_REUSEPORT), and the kernel deals
new connections out between them evenly; with one shared socket, whichever
worker is awake first accepts nearly all of a burst of kept-alive
connections, and the others idle (measured: two workers served no more
than one). Elsewhere they share the parent's socket. Each worker builds
its own app after the fork, so no thread, connection or model crosses it.

The parent only supervises. SIGTERM or SIGINT to it is passed on to every
worker once (the workers run in their own process group, so a terminal's
Ctrl-C reaches them only through the parent, never twice, which uvicorn
would take as "exit now"); each finishes its requests and writes its
counters. If a worker dies on its own, the parent stops the others and
exits with an error, for the platform to restart the whole server.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import signal
import socket
import sys
import threading
import traceback
from collections.abc import Callable

log = logging.getLogger("memorygate.server")

LISTEN_BACKLOG = 2048
SPREAD_BY_KERNEL = sys.platform == "linux" and hasattr(socket, "SO_REUSEPORT")


Worker = Callable[[socket.socket, int, Callable[[str], None]], None]


def serve_processes(count: int, *, host: str, port: int, run_worker: Worker, all_ready: Callable[[str], None]) -> int:
    """Run ``run_worker(listening_socket, index, ready)`` in ``count``
    processes; their combined exit status. Each worker calls ``ready(text)``
    once it serves; when all have, ``all_ready`` gets their texts joined."""
    # Bound here so a taken port fails once, up front; with SO_REUSEPORT it
    # is not listened on (the workers' own sockets take every connection).
    listener = _listen(host, port, reuse_port=SPREAD_BY_KERNEL, listen=not SPREAD_BY_KERNEL)
    readings, writings = os.pipe()
    workers = [_fork(listener, index, run_worker, host, port, writings) for index in range(count)]
    listener.close()
    os.close(writings)  # the workers hold the only write ends: the pipe ends when they do
    threading.Thread(target=_await_ready, args=(readings, count, all_ready), daemon=True).start()
    log.info("Listening on http://%s:%d with %d server processes", host, port, count)
    stopping = False

    def stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        if not stopping:
            stopping = True
            _signal_all(workers, signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    status = 0
    living = set(workers)
    while living:
        try:
            pid, wait_status = os.wait()
        except ChildProcessError:
            break
        living.discard(pid)
        code = os.waitstatus_to_exitcode(wait_status)
        if code != 0 and not stopping:
            log.error("server process %d exited with %d; stopping the others", pid, code)
            stopping = True
            _signal_all(list(living), signal.SIGTERM)
        status = status or (0 if stopping and code in (0, -signal.SIGTERM) else code)
    return 1 if status else 0


def port_in_use(host: str, port: int) -> bool:
    """Whether another process, of any kind, listens on ``host:port``. Our
    workers share a port (SO_REUSEPORT), which would let a second server
    bind beside a first and take half its connections: a plain bind, which
    any listener refuses, is tried first and let go."""
    try:
        _listen(host, port, reuse_port=False).close()
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            return True
        raise
    return False


def _listen(host: str, port: int, *, reuse_port: bool, listen: bool = True) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    listener.bind((host, port))
    if listen:
        listener.listen(LISTEN_BACKLOG)
    listener.set_inheritable(True)
    return listener


def _await_ready(readings: int, count: int, all_ready: Callable[[str], None]) -> None:
    """Collect each worker's ready message (NUL-terminated) from the pipe."""
    with os.fdopen(readings, "rb") as pipe:
        received = b""
        while received.count(b"\0") < count:
            chunk = pipe.read1(4096)
            if not chunk:
                return  # a worker ended before it was ready: the parent reports that
            received += chunk
    all_ready("\n".join(part.decode() for part in received.split(b"\0") if part))


def _fork(listener: socket.socket, index: int, run_worker: Worker, host: str, port: int, writings: int) -> int:
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid:
        return pid
    os.setpgid(0, 0)  # signals come from the parent only
    code = 0

    def ready(text: str) -> None:
        os.write(writings, text.encode() + b"\0")

    try:
        if SPREAD_BY_KERNEL:
            listener.close()
            listener = _listen(host, port, reuse_port=True)
        run_worker(listener, index, ready)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:  # noqa: BLE001 - a worker reports whatever ended it, then exits
        traceback.print_exc()
        code = 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _signal_all(pids: list[int], signum: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signum)
