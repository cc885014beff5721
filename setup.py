"""Builds the hot, pure modules as C extensions with mypyc (everything else is in pyproject.toml).

mypyc compiles the same type-annotated source to C; outputs are byte-identical and the pure-Python
modules stay the reference. Measured on the bench input (docs/benchmarks.md, "Compiled hot modules"):
instructions per event -25 % in replay, -19.5 % in the worker's stages. A module that defines msgspec
structs is left out: mypyc's compiled annotations make msgspec decode them wrongly.

``CJO_PURE_PYTHON=1`` installs without compiling (as does a machine without a C compiler: the same
package then runs as plain Python, slower); at run time it makes an installed build import the sources.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
import sysconfig

from setuptools import setup

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cjo_stream.native import COMPILED  # noqa: E402  (the list, in one place; no dependencies)


def _compiler() -> bool:
    cc = (os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc").split()[0]
    return shutil.which(cc) is not None


#: What mypyc must see to type the compiled modules as `make lint` does: mypy, and the libraries they use.
#: In pip's isolated build environment they are missing, and a module typed against missing libraries
#: compiled to wrong code (a SystemError in python-liquid's filters, found by tests/test_compiled.py).
_NEEDED = ("mypy", "mypy_extensions", "msgspec", "orjson", "liquid", "rocksdict", "aiokafka", "faust",
           "prometheus_client", "xxhash", "yaml", "croniter")


def _ext_modules() -> list:  # type: ignore[type-arg]
    if os.environ.get("CJO_PURE_PYTHON", "") not in ("", "0"):
        return []
    missing = [m for m in _NEEDED if importlib.util.find_spec(m) is None]
    if missing or not _compiler():
        why = f"{', '.join(missing)} not installed here" if missing else "no C compiler found"
        print(f"cjo-stream: installing the pure-Python modules ({why}); to compile the hot ones, install the "
              "dependencies and mypy first, then `pip install --no-build-isolation .` (`make setup` does)",
              file=sys.stderr)
        return []
    from mypyc.build import mypycify

    # opt_level 3 is mypyc's default; the modules compile into one shared library (one C build) with a
    # fixed name (by default it is a hash of the list). Its own mypy cache: one left by `make lint` or an
    # earlier build would be reused whatever the environment.
    return mypycify([*COMPILED, "--cache-dir=build/mypyc-cache"], opt_level="3", group_name="cjo_stream_native")


setup(ext_modules=_ext_modules())
