"""One module per measurement of `make bench`, in the order they run.

Each has ``NAME`` (what ``--only`` selects), ``run(ctx)`` returning its entries of
results.json, and ``rows(results)`` returning its lines of the results.md table; a module
with wrk rounds also has ``rounds(results)`` for the noise summary under the table.
"""

from . import callbacks, fixture, inprocess, prism, profile, replicas, schemathesis, store

MEASUREMENTS = (prism, inprocess, store, callbacks, replicas, schemathesis, fixture, profile)
