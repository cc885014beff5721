"""Builds the hot, pure modules as C extensions with mypyc (everything else is in pyproject.toml).

mypyc compiles the same type-annotated source to C; outputs are byte-identical and the pure-Python
modules stay the reference. Measured on the bench input (docs/benchmarks.md, "Compiled hot path"):
replay +25-30 % events/s, the worker's stage harness -10 % CPU per event. A module that defines
msgspec structs is left out: mypyc's compiled annotations make msgspec decode them wrongly.

``CJO_PURE_PYTHON=1`` installs without compiling (as does a machine without a C compiler: the same
package then runs as plain Python, slower); at run time it makes an installed build import the sources.
"""

from __future__ import annotations

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


def _ext_modules() -> list:  # type: ignore[type-arg]
    if os.environ.get("CJO_PURE_PYTHON", "") not in ("", "0"):
        return []
    if not _compiler():
        print("cjo-stream: no C compiler found: installing the pure-Python modules (slower)", file=sys.stderr)
        return []
    from mypyc.build import mypycify

    # opt_level 3 is mypyc's default; the modules compile into one shared library (one C build) with a
    # fixed name (by default it is a hash of the list)
    return mypycify(list(COMPILED), opt_level="3", group_name="cjo_stream_native")


setup(ext_modules=_ext_modules())
