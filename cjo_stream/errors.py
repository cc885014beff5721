"""Mistakes a user can fix, each with its own exit code (the README's "Exit codes" table).

The command line prints a :class:`UserError` as one ``error: ...`` line and exits with its code, never
with a traceback; anything else is a bug and keeps its traceback (exit 70). Codes are distinct so a
script can tell "fix the journey" from "start the broker" without parsing messages.
"""

from __future__ import annotations

import errno
import os
import socket
import stat
from enum import IntEnum
from typing import Any


class ExitCode(IntEnum):
    OK = 0
    INVALID = 1  # the input was read and has problems: journeys or policies (file:line: reason)
    USAGE = 2  # a bad flag value or CJO_* variable (argparse uses 2 as well)
    NO_FILE = 3  # a file or directory is missing, unreadable or unwritable
    BROKER = 4  # the Kafka broker could not be reached in time
    PORT_IN_USE = 5  # a port to listen on is taken
    INTERNAL = 70  # a bug (traceback printed); also a worker's "restart me" exit (EX_SOFTWARE)
    INTERRUPTED = 130  # Ctrl-C


class UserError(Exception):
    """A problem the user can fix; ``str()`` is the whole message (one line, says what to do)."""

    code: ExitCode = ExitCode.USAGE

    def __init__(self, message: str, *, details: list[str] | None = None) -> None:
        super().__init__(message)
        self.details = details or []  # printed one per line before the message (e.g. file:line: reason)


class UsageError(UserError):
    code = ExitCode.USAGE


class InvalidInput(UserError):
    code = ExitCode.INVALID


class FileProblem(UserError):
    code = ExitCode.NO_FILE


class BrokerUnreachable(UserError):
    code = ExitCode.BROKER


class PortInUse(UserError):
    code = ExitCode.PORT_IN_USE


def _reason(e: OSError) -> str:
    if isinstance(e, socket.gaierror):  # a host that does not resolve: its errno is no OS error number
        return f"unknown host ({e.strerror})"
    return os.strerror(e.errno).lower() if e.errno else str(e)


def file_problem(what: str, path: str, e: OSError) -> FileProblem:
    """A :class:`FileProblem` for an ``OSError`` raised while opening ``path``."""
    return FileProblem(f"cannot read {what} {path}: {_reason(e)}")


def write_problem(what: str, e: OSError) -> FileProblem:
    """A :class:`FileProblem` for an ``OSError`` raised while writing ``what`` (a full disk, a quota):
    ``simulate > /dev/full`` blamed its events file, ``replay --commands`` on a full disk was a traceback."""
    return FileProblem(f"cannot write {what}: {_reason(e)}")


#: Errors of writing that are the machine's state, not a bug: a full disk, a quota, a file too big, I/O.
WRITE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO, errno.EROFS})


def writable_dir(path: str, what: str) -> None:
    """Make the directory ``path`` if missing and check it can be written (a FileProblem, exit 3,
    otherwise); ``what`` names it with its setting, e.g. "the data directory data (--data-dir / CJO_DATA_DIR)"."""
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as e:
        raise FileProblem(f"cannot create {what}: {(e.strerror or str(e)).lower()}") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise FileProblem(f"cannot write to {what}")


def readable_file(path: str, what: str) -> str:
    """``path`` if it is a file this process can read, else a :class:`FileProblem` naming it."""
    if not os.path.exists(path):
        hint = " (standard input is /dev/stdin)" if path == "-" else ""  # the Unix habit `--events -`
        raise FileProblem(f"{what} not found: {path}{hint}")
    if os.path.isdir(path):
        raise FileProblem(f"{what} is a directory, expected a file: {path}")
    if not stat.S_ISREG(os.stat(path).st_mode):
        # a named pipe or a device: opening it here would block until a writer comes, and closing it
        # again would leave that writer with a broken pipe, so only the permission is checked
        if not os.access(path, os.R_OK):
            raise file_problem(what, path, PermissionError(errno.EACCES, os.strerror(errno.EACCES)))
        return path
    try:
        with open(path, "rb"):
            pass
    except OSError as e:
        raise file_problem(what, path, e) from None
    return path


def existing_dir(path: str, what: str) -> str:
    """``path`` if it is a readable directory, else a :class:`FileProblem` naming it."""
    if not os.path.exists(path):
        raise FileProblem(f"{what} not found: {path}")
    if not os.path.isdir(path):
        raise FileProblem(f"{what} is not a directory: {path}")
    if not os.access(path, os.R_OK | os.X_OK):
        raise FileProblem(f"cannot read {what} {path}: permission denied")
    return path


def not_dash(path: str, what: str) -> None:
    """A :class:`FileProblem` for an output named ``-``: the Unix habit ``--journey-events -`` wrote a file
    named ``-`` in the working directory, as ``--events -`` is refused for reading."""
    if path == "-":
        raise FileProblem(f"cannot write {what} to -: standard output is /dev/stdout (no file named - is written)")


def writable_file(path: str, what: str) -> str:
    """``path`` if this process can create or overwrite it, else a :class:`FileProblem` naming it: checked
    before a run whose output is written only at its end, so a typo in the path costs no run."""
    not_dash(path, what)
    parent = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise FileProblem(f"cannot write {what} {path}: it is a directory")
    if not os.path.isdir(parent):
        raise FileProblem(f"cannot write {what} {path}: directory {parent} not found")
    if not os.access(parent, os.W_OK) or (os.path.exists(path) and not os.access(path, os.W_OK)):
        raise FileProblem(f"cannot write {what} {path}: permission denied")
    return path


def distinct_outputs(inputs: list[tuple[str, str]], outputs: list[tuple[str, str]]) -> None:
    """A :class:`UsageError` if an output file (``(flag, path)``) is one of the inputs or another output.

    Outputs are opened for writing before the inputs are read: ``--commands`` naming the events file
    emptied it, and the run then said the file "holds no events". Only regular files (and paths not made
    yet) are compared: ``/dev/stdout`` and ``/dev/stdin`` may well be the same terminal.
    """
    def regular(path: str) -> bool:
        try:
            return stat.S_ISREG(os.stat(path).st_mode)
        except OSError:
            return False

    for flag, out in outputs:
        if not regular(out):
            continue
        for what, path in inputs:
            if regular(path) and os.path.samefile(out, path):
                raise UsageError(f"{flag} {out} is the {what}: writing it would overwrite what is read; "
                                 "choose another path")
    seen: dict[str, str] = {}
    for flag, out in outputs:
        if os.path.exists(out) and not regular(out):
            continue
        real = os.path.realpath(out)
        if real in seen:
            raise UsageError(f"{seen[real]} and {flag} name the same file {out}: each needs its own")
        seen[real] = flag


def port_free(host: str, port: int, what: str) -> None:
    """Raise :class:`PortInUse` if ``host:port`` cannot be bound now.

    ``SO_REUSEADDR`` as servers set it, so a port left in TIME_WAIT by a stopped process counts as free.
    """
    if port <= 0:
        return
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                raise PortInUse(f"port {port} on {host} is already in use ({what}): stop the process "
                                "holding it or choose another port") from None
            if e.errno == errno.EACCES:
                raise UsageError(f"not allowed to listen on port {port} on {host} ({what}): "
                                "choose a port above 1023") from None
            if e.errno == errno.EADDRNOTAVAIL or isinstance(e, socket.gaierror):  # the host, not the port
                raise UsageError(f"cannot listen on {host}:{port}: {_reason(e)}; {host!r} is not an address of "
                                 "this machine (CJO_WEB_HOST: 0.0.0.0 for every interface, 127.0.0.1 for this "
                                 "machine only)") from None
            raise UsageError(f"cannot listen on {host}:{port} ({what}): {_reason(e)}") from None




def no_events(source: str, bad: int, first_reason: str, first_detail: str, unit: str = "line") -> InvalidInput:
    """Every record read was bad: an exit 0 with an empty report hid that the input is not JSON lines
    (a pretty-printed export, a JSON array, a CSV)."""
    hint = ""
    if first_reason == "wrong_type" and "got `array`" in first_detail:
        hint = "; a JSON array? `jq -c '.[]' FILE > FILE.jsonl` writes one event per line"
    expected = ("expected JSON lines, one Segment event object per line" if unit == "line" else
                "expected one Segment event object per record (a dead-letter topic holds the records that failed)")
    return InvalidInput(f"no {unit} of {source} is a touchpoint event ({bad:,} bad): {expected}{hint}")


def load_topology_checked(path: str, refusing: str | None = "nothing was loaded", warn: bool = True) -> Any:
    """Load a topology directory, turning a missing directory and journey problems into user errors
    (``refusing=None``: ``validate`` itself, which says no more than how many problems it listed). Its
    warnings go to stderr, one line each, never to stdout (where simulate and replay write their output);
    ``warn=False`` keeps them back where another process already showed them (``worker --concurrency``)."""
    import sys

    from cjo_stream.journeys.loader import JourneyLoadError, load_topology

    if os.path.isfile(path):  # `validate topologies/journeys/welcome.yaml`: "... is not a directory" said too little
        folder = os.path.dirname(os.path.abspath(path))
        above = os.path.dirname(folder)  # as the user wrote it: `/tmp/t/journeys/a.yaml` is not `../../tmp/t`
        hint = (above if os.path.isabs(path) else os.path.relpath(above)) \
            if os.path.basename(folder) == "journeys" else "topologies"
        raise FileProblem(f"{path} is a file, not a topologies directory: give the directory holding journeys/ "
                          f"(and policies.yaml), e.g. {hint}")
    if not os.path.isabs(path) and not os.path.exists(path):  # `simulate` run from another directory (a walkthrough)
        raise FileProblem(f"topologies directory not found: {path} (relative to the working directory {os.getcwd()}: "
                          f"run the command in the directory that holds it, or give its whole path)")
    existing_dir(path, "topologies directory")
    try:
        topo = load_topology(path)
    except JourneyLoadError as e:
        for w in e.warnings:
            print(w, file=sys.stderr)
        tail = "" if refusing is None else f"; {refusing} (`cjo-stream validate {path}` lists them)"
        raise InvalidInput(f"{len(e.problems)} problem(s) in {path}{tail}",
                           details=[str(p) for p in e.problems]) from None
    for w in topo.warnings if warn else ():
        print(w, file=sys.stderr)
    return topo


__all__ = ["BrokerUnreachable", "ExitCode", "FileProblem", "InvalidInput", "PortInUse", "UsageError", "UserError",
           "existing_dir", "file_problem", "load_topology_checked", "no_events", "port_free", "readable_file"]
