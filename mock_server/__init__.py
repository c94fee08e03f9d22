"""evolink-mock: a local, OpenAPI-driven mock of the EvoLink video-generation API."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("evolink-mock")
except PackageNotFoundError:   # run from a checkout that was never installed
    __version__ = "0+unknown"
