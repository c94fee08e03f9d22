"""Connexion, imported with the warnings it raises at import time silenced, here only.

Connexion 3.3 imports jsonschema's deprecated ``RefResolver`` and ``RefResolutionError``
(``DeprecationWarning``) and Starlette's test client (a ``StarletteDeprecationWarning``,
which is a ``UserWarning``): four warnings the moment it is imported. Those warnings are
about Connexion's code, not about anything our users do, yet they would land in every users'
test suite that uses the ``evolink_mock`` fixture. A filter in our pyproject cannot reach
their suites, and a global filter would hide their own deprecations too; so the filter lives
only around the one import, and every module of ours that uses Connexion imports this module
first. Python caches the module: later imports of Connexion's parts run no code and raise
nothing.
"""

import warnings

with warnings.catch_warnings():
    # Any category, but only warnings attributed to Connexion's own modules.
    warnings.filterwarnings("ignore", module=r"connexion(\.|$)")
    import connexion  # noqa: F401
