"""The team server's face: FastAPI routes that parse a request, make one app call and return
the same JSON as the CLI (server.py builds the application; api.py is the read API)."""
