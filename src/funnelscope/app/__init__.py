"""The application layer: one function per use case, returning result values, never printing.

Every face (the CLI, the web server, the HTML report) parses its input, makes one call here and
renders what comes back, so they agree by construction. Functions open the store they need and
close it before returning; callbacks (`on_loaded`, `stage`, `note`) let a face show progress.
"""
