"""evolink-mock: a local, OpenAPI-driven mock of the EvoLink video-generation API.

The names in ``__all__`` are the package's public surface; each is imported from its module
on first use, so that importing one submodule (every one imports this package first) does
not load the spec, the app and the server with it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from importlib import import_module
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .app import create_app
    from .settings import SettingError, Settings
    from .version import __version__

__all__ = ["SettingError", "Settings", "__version__", "create_app"]


def lazy_attributes(package: str, homes: Mapping[str, str]) -> Callable[[str], object]:
    """A module ``__getattr__`` (PEP 562) for ``package`` that imports each public name from
    its home module (relative to ``package``) on first use and keeps it."""
    namespace = vars(import_module(package))

    def attribute(name: str) -> object:
        if name not in homes:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        namespace[name] = getattr(import_module(homes[name], package), name)
        return namespace[name]

    return attribute


__getattr__ = lazy_attributes(__name__, {"Settings": ".settings", "SettingError": ".settings",
                                         "create_app": ".app", "__version__": ".version"})
