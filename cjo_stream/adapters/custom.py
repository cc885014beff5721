"""A channel class of your own: ``cjo-stream adapter --channel myco_whatsapp --channel-class mypkg.wa:WhatsApp``
(or ``CJO_CHANNEL_CLASS``), loaded, checked and created before anything connects.

The class only talks to its provider (:class:`cjo_stream.adapters.base.BaseChannel`); the runner gives it
what every built-in channel has (sent-record, retries, rate limit, expiry, DLQ, receipts, ``/health``,
``/metrics``, ``/engagement``). It is named by an import path rather than found through a package's entry
points: a module in the working directory or on ``PYTHONPATH`` is enough — no package to build and reinstall
after each edit — and the command line says which code runs.

Every mistake is a :class:`~cjo_stream.adapters.config.ConfigError` of one line (exit 2), never a traceback:
the module not found or failing to import, no such attribute, not a channel class, its ``__init__`` raising.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import os
import sys
from typing import Any

from cjo_stream.adapters.base import BaseChannel, Channel, said
from cjo_stream.adapters.config import ConfigError
from cjo_stream.commands import ALL_CHANNELS

CHANNEL_CLASS_ENV = "CJO_CHANNEL_CLASS"
#: The names ``--channel`` takes without a class: the built-in channels and the console adapter.
BUILT_IN = frozenset(ALL_CHANNELS | {"console"})
_METHODS = ("start", "deliver", "close")


def load_class(spec: str, source: str) -> type:
    """The class ``spec`` (``module:Class``) names, checked to be a channel class; ``source`` names the flag
    or variable it came from, for the message."""
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr or ":" in attr:
        raise ConfigError(f"{source}={spec!r}: use module:Class, e.g. myco_channels:WhatsApp")
    if module_name.endswith(".py") or "/" in module_name or os.sep in module_name:
        raise ConfigError(_file_path(spec, source, module_name, attr))
    here = os.getcwd()
    if here not in sys.path:  # as `python -m` would: a module beside the command's working directory
        sys.path.insert(0, here)
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        if e.name is not None and (module_name == e.name or module_name.startswith(e.name + ".")):
            raise ConfigError(f"{source}={spec!r}: no module {module_name!r} in the working directory or on "
                              "PYTHONPATH") from None
        raise ConfigError(f"{source}={spec!r}: importing {module_name} failed: {said(e)}") from None
    except Exception as e:  # its own code failing (a syntax error, a missing setting read at import)
        raise ConfigError(f"{source}={spec!r}: importing {module_name} failed: {said(e)}") from None
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ConfigError(f"{source}={spec!r}: {module_name} has no {attr!r}"
                              + _classes_hint(module))
        obj = getattr(obj, part)
    if not inspect.isclass(obj):
        raise ConfigError(f"{source}={spec!r} is not a class ({type(obj).__name__}): name a channel class "
                          "(a subclass of cjo_stream.adapters.base.BaseChannel)")
    missing = [m for m in _METHODS if not inspect.iscoroutinefunction(getattr(obj, m, None))
               or (m == "deliver" and getattr(obj, m) is BaseChannel.deliver)]
    if missing:
        raise ConfigError(f"{source}={spec!r} is not a channel class: it lacks async {', '.join(missing)} "
                          "(write `async def deliver(self, cmd)`; subclass cjo_stream.adapters.base.BaseChannel "
                          "for start and close)")
    return obj


def _file_path(spec: str, source: str, path: str, attr: str) -> str:
    """A file named for a module (``./myco_channels.py:WhatsApp``) was told as "no module 'myco_channels.py'",
    or as a relative import's ``TypeError``, beside the file it named."""
    folder, file = os.path.split(path.removesuffix(".py"))
    name = f"{file}:{attr}"
    again = f"--channel-class {name}" if source.startswith("--") else f"{source}={name}"
    where = " (modules are found in the working directory)" if os.path.abspath(folder or ".") == os.getcwd() else \
        f", run from {folder} or with PYTHONPATH={folder}"
    return f"{source}={spec!r} is a file path: name its module instead, {again}{where}"


def _classes_hint(module: Any) -> str:
    names = sorted(n for n, v in vars(module).items()
                   if inspect.isclass(v) and v.__module__ == module.__name__ and not n.startswith("_"))
    return f" (its classes: {', '.join(names)})" if names else ""


def make(cls: type, spec: str, source: str) -> Channel:
    """An instance of ``cls``, created without arguments; its ``__init__`` raising is a one-line mistake."""
    try:
        inspect.signature(cls).bind()
    except TypeError:
        raise ConfigError(f"{source}={spec!r}: its __init__ must take no arguments (it reads its own settings, "
                          "e.g. from os.environ)") from None
    except ValueError:
        pass  # no signature to read (a class implemented in C): let the call tell
    try:
        channel: Channel = cls()
    except ConfigError as e:
        raise ConfigError(f"{source}={spec!r}: {e}") from None
    except Exception as e:
        raise ConfigError(f"{source}={spec!r}: creating it failed: {said(e)}") from None
    return channel


def load(name: str, spec: str | None, source: str) -> Channel | None:
    """The channel ``--channel name`` runs when it is not built in: made from ``spec``; ``None`` for a built-in
    name without a class. A built-in name with a class, or an unknown one without, is a mistake."""
    if name in BUILT_IN:
        if spec:
            raise ConfigError(f"--channel {name} is a built-in channel, and {source} names a class for it: give "
                              "your channel a name of its own (e.g. myco_whatsapp), declared under channels: in "
                              f"policies.yaml{', or unset ' + CHANNEL_CLASS_ENV if source == CHANNEL_CLASS_ENV else ''}")
        return None
    if not spec:
        close = difflib.get_close_matches(name, sorted(BUILT_IN), n=1, cutoff=0.6)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ConfigError(f"unknown channel {name!r}{hint}: use one of {', '.join(sorted(BUILT_IN))}, or deliver a channel "
                          f"of your own with --channel-class module:Class (or {CHANNEL_CLASS_ENV})")
    return make(load_class(spec, source), spec, source)
