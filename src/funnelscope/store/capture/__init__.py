"""Live capture: tracking calls (Segment's HTTP API, PostHog's capture API) taken by the server,
made durable in an append-only log beside the store, and folded into the store in batches.

- ``records.py``: what every capture format shares: the limits, one call checked (a
  :class:`CallError` names the field and the fix), its time corrected for the client's clock, its
  id (given, or derived from its content), and the log record the fold reads;
- ``segment.py``, ``posthog.py``: one module per capture format (see docs/architecture.md, "How
  to add a capture format"): a request body to its events, and one event to the record the tool's
  own export would hold, which the export layout of ``store/layouts/`` then flattens, so a captured
  event and the same event loaded from an export become the same row;
- ``log.py``: the append-only capture log (segments, group commit: one fsync for every request
  waiting, a segment closed every fold interval);
- ``fold.py``: closed segments folded into the store set-based in DuckDB, exactly once.
"""
