"""The team server's face: FastAPI routes that parse a request, make one app call and return
the same JSON as the CLI (server.py builds the application; access.py checks keys; api*.py are
the read API by area)."""
