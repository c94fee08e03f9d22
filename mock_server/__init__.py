"""evolink-mock: a local, OpenAPI-driven mock of the EvoLink video-generation API."""

import warnings

# Connexion 3.3 imports Starlette's test client at import time, which warns on every start.
warnings.filterwarnings("ignore", message=r"Using `httpx` with `starlette.testclient`")
