"""The adapter's last resort when its topics vanished: a shutdown that hangs still ends the process (70).

After the runner finds its topics gone it stops, but a produce to a vanished topic waits out the
request timeout (40 s) and a provider call may hang longer; ``serve`` then ends the process after
``_LOST_GRACE`` seconds whatever is still awaited. Run in a subprocess: the net is ``os._exit``.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

from cjo_stream.adapters.service import LOST_EXIT

SCRIPT = textwrap.dedent("""
    import asyncio, logging
    from cjo_stream.adapters import service

    logging.basicConfig(level=logging.INFO)
    service._LOST_GRACE = 0.3

    class Runner:  # what _end_after_loss reads of an AdapterRunner
        name = "email"
        def __init__(self):
            self.lost_event = asyncio.Event()

    async def main():
        runner = Runner()
        net = asyncio.ensure_future(service._end_after_loss(runner))
        runner.lost_event.set()  # topics gone: the runner stops ...
        await asyncio.get_running_loop().create_future()  # ... and its shutdown never finishes
        net.cancel()

    asyncio.run(main())
    print("returned")  # never: the process ended first
""")


def test_a_hanging_shutdown_after_lost_topics_ends_the_process_with_70() -> None:
    p = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=30)
    assert p.returncode == LOST_EXIT == 70, p.stderr[-2000:]
    assert "returned" not in p.stdout
    assert "adapter email did not stop within 0 s; ending now" in p.stderr


def test_nothing_ends_a_process_whose_topics_are_still_there() -> None:
    """Without the loss the net waits: the same script without setting the event ends normally."""
    script = SCRIPT.replace("runner.lost_event.set()", "pass").replace(
        "await asyncio.get_running_loop().create_future()", "await asyncio.sleep(0.6)")
    p = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr[-2000:]
    assert "returned" in p.stdout
