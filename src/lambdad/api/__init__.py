"""Wire protocols: the ASGI app, per-service codecs and operation adapters."""
