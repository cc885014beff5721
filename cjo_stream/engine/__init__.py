"""The pure journey engine (no Faust, no Kafka, no clock): see :mod:`cjo_stream.engine.core`."""

from cjo_stream.engine.core import Engine
from cjo_stream.engine.result import Result
from cjo_stream.engine.transition import Transition
from cjo_stream.engine.types import Timer

__all__ = ["Engine", "Result", "Timer", "Transition"]
