"""Report formats, one module each: ``text`` for people, ``junit`` for CI systems."""
