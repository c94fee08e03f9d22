"""evolink-mock: a local, OpenAPI-driven mock of the EvoLink video-generation API."""
