"""The sales pipeline's use cases: load CRM exports (``data.py``) and one module per analysis.
Each function takes plain values (paths, settings path, as-of time) and returns a result with
``to_dict()`` (the JSON of ``--format json``) and ``rows()`` (the CSV rows)."""
