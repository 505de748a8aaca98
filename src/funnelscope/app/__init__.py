"""The application layer: one function per use case, returning result values, never printing.

Each function takes plain arguments (paths, options dataclasses, an engine name, a database
path), opens the store it needs, wires the store's readers and the analyses together and returns
what they found, closing the store before it returns. Every face (the CLI, the web server, the
HTML report) calls the same functions, so they agree by construction. Errors are
:class:`~funnelscope.errors.FunnelscopeError` subclasses; nothing here imports click or rich;
callbacks (`on_loaded`, `stage`, `note`) let a face show progress.
"""
