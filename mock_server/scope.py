"""What one layer leaves in a request's ASGI scope for another: the names, in one place.

The fault layer, the create handler, the body validator and our uvicorn protocol set them;
the recording middleware and the app read them.
"""

# Set in the request scope's extensions by the fault layer when it answers on its own.
SCRIPTED_EXTENSION = "evolink_mock.scripted"
# Set by the fault layer: the connection was closed without an answer ("before"/"after").
DROPPED_EXTENSION = "evolink_mock.dropped"
# Set by the create handler when it answered a stored create again (Idempotency-Key).
REPLAYED_EXTENSION = "evolink_mock.replayed"
# Put in the scope by our uvicorn protocol (server.py): closes this request's connection.
CLOSE_CONNECTION_EXTENSION = "evolink_mock.close_connection"
# The body validator leaves here the unknown fields it ignored (``--unknown-fields warn``).
IGNORED_FIELDS_STATE_KEY = "ignored_fields"
