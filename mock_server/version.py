"""The installed version, in a module of its own: modules that show it import this, not the
package, whose public names would otherwise close import cycles (tests/test_architecture.py)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("evolink-mock")
except PackageNotFoundError:   # run from a checkout that was never installed
    __version__ = "0+unknown"
