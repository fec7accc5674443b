"""The HTTP edge: the ASGI app factory, the control API and its error table."""
