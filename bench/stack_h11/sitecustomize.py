"""Put on PYTHONPATH by ``bench/run.py --stack h11``: hides httptools and uvloop from the
server processes, so uvicorn's "auto" choice falls back to its pure-Python h11 protocol and
asyncio's own loop, whatever was installed into the venv by hand. It changes nothing else."""

import sys

_HIDDEN = ("httptools", "uvloop")


class _HideFastStack:
    def find_spec(self, name, path=None, target=None):
        if name.split(".", 1)[0] in _HIDDEN:
            raise ImportError(f"{name} is hidden by bench/run.py --stack h11")
        return


sys.meta_path.insert(0, _HideFastStack())
