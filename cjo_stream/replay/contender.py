"""``replay --compare`` on two cores: the second topology (the contender) replayed in a child process.

In one process a comparison costs one decode and two engine runs per event: ~20,000 events/s over the
bench input, against ~35,000 for one topology (``make bench``, replay section). The two sides share
nothing but the input (each has its own engine, profiles, links and timers), so the contender runs in a
forked child over the same files, and sends back only what the comparison reads: its funnel, who it
would have messaged, and its command count. The parent's side is the one whose commands, report and
summary are printed, as before.

Only over regular files: a pipe (``--events /dev/stdin``) can be read once, and topics are read in one
pass; those, and a machine with one CPU, run both sides in one process (``--serial`` asks for that).
"""

from __future__ import annotations

import os
import signal
import stat
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from cjo_stream.engine import Engine
from cjo_stream.engine.funnel import Funnel
from cjo_stream.journeys.loader import Topology
from cjo_stream.lifetime import die_with_parent
from cjo_stream.replay.run import Side
from cjo_stream.simulator import Simulator


@dataclass
class Outcome:
    """What the comparison reads of the contender's side, and the child's peak memory."""

    funnel: Funnel
    warm_funnel: Funnel
    messaged: dict[str, dict[str, int]]
    commands: int
    peak_mib: float


def runs_apart(paths: list[str]) -> bool:
    """The contender can run in a child: every input is a regular file, and there is a second CPU."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    if cpus < 2:
        return False
    try:
        return all(stat.S_ISREG(os.stat(p).st_mode) for p in paths)
    except OSError:
        return False  # the serial path reports it as it always has


class Contender:
    """The child replaying the contender topology; :meth:`outcome` waits for what it found.

    ``run`` is called in the child with no arguments and returns its :class:`Outcome`. The child is forked
    before the parent's replay builds anything (no RocksDB store, thread or connection to inherit).
    """

    def __init__(self, run: Callable[[], Outcome]) -> None:
        import multiprocessing

        ctx = multiprocessing.get_context("fork")
        self._receive, send = ctx.Pipe(duplex=False)
        # SIGTERM when this process ends (Linux's parent-death signal): a parent killed outright (SIGKILL, a CI
        # job cancelled) cannot stop its child, which would replay the whole history for nobody
        with_parent = die_with_parent(signal.SIGTERM, new_session=False)
        self._process = ctx.Process(target=_child, args=(send, run, with_parent), name="cjo-replay-contender",
                                    daemon=True)
        self._process.start()
        send.close()  # the parent's copy: an ended child then reads as EOF, not as a hang

    def outcome(self) -> Outcome:
        """The child's outcome; a RuntimeError (a bug, reported with its traceback) if it failed."""
        try:
            got: Any = self._receive.recv()
        except EOFError:
            self._process.join()
            raise RuntimeError(f"the --compare side's process ended (exit code {self._process.exitcode}) "
                               "without its results") from None
        self._process.join()
        if isinstance(got, str):
            raise RuntimeError(f"the --compare side failed in its process:\n{got}")
        assert isinstance(got, Outcome)
        return got

    def stop(self) -> None:
        """End the child if it still runs (the parent stopped on an error or Ctrl-C): SIGTERM, which unwinds
        its replay so that its spill stores are deleted, and SIGKILL if it has not ended within 10 s (compiled
        code runs Python's signal handlers only between the interpreted calls it makes)."""
        if self._process.is_alive():
            self._process.terminate()
            self._process.join(10.0)
            if self._process.is_alive():
                self._process.kill()
        self._process.join()
        self._receive.close()


class _Stopped(BaseException):
    """SIGTERM in the child: raised where it runs, so the replay's ``finally`` deletes its spill stores (the
    default action ended the process on the spot and left them in the temporary directory)."""


def _stopped(_signum: int, _frame: object) -> None:
    # once: a second SIGTERM (seen in most runs where the parent was killed outright) raised again inside
    # the unwinding's cleanup and left the stores behind
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise _Stopped


def _child(send: Connection, run: Callable[[], Outcome], with_parent: Callable[[], None] | None) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle: it stops this process
    signal.signal(signal.SIGTERM, _stopped)
    try:
        if with_parent is not None:  # (off Linux the parent's ``stop`` still ends it on errors and Ctrl-C)
            with_parent()  # (SIGTERM at once if the parent already ended)
        send.send(run())
    except _Stopped:
        pass  # the parent is not listening any more
    except BaseException:  # noqa: BLE001 - sent to the parent, which reports it
        send.send(traceback.format_exc())
    finally:
        send.close()


def as_side(name: str, topo: Topology, allowed_lateness: float, outcome: Outcome) -> Side:
    """The contender's :class:`Side` for :func:`~cjo_stream.replay.compare.compare`, from its outcome (the engine
    is the topology's, unfed: the comparison reads its journeys' send steps)."""
    sim = Simulator(Engine(topo.journeys, topo.policies, allowed_lateness, stages=topo.stages), keep=False)
    sim.funnel = outcome.funnel
    sim.warm_funnel = outcome.warm_funnel
    side = Side(name, sim, commands=outcome.commands)
    side.messaged.update(outcome.messaged)
    return side

