"""Query results as numpy arrays, without copies where Arrow allows."""

from __future__ import annotations

import duckdb
import numpy as np
import pyarrow as pa

from funnelscope.engines.plan import Plan

FETCH_BATCH_ROWS = 1 << 26


def fetch(con: duckdb.DuckDBPyConnection, plan: Plan) -> pa.Table:
    """Run a plan's SQL. Few large batches: converting ~100 small chunks to numpy costs more
    than the scan itself."""
    return con.sql(plan.sql, params=dict(plan.params)).to_arrow_table(FETCH_BATCH_ROWS)


def numpy_column(column: pa.ChunkedArray) -> np.ndarray:
    """One numpy array of an integer column without nulls, from its (few) chunks."""
    parts = [chunk_numpy(chunk) for chunk in column.chunks]
    if len(parts) == 1:
        return parts[0]
    if not parts:
        return np.zeros(0, np.int64)
    return np.concatenate(parts)


def chunk_numpy(chunk: pa.Array) -> np.ndarray:
    """A zero-copy numpy view of an integer Arrow array without nulls. Reads the buffer
    directly: Array.to_numpy and to_pandas_dtype import pandas when it is installed."""
    if chunk.null_count:
        raise ValueError("a scan column holds NULL")  # the scan never yields one
    kind = "i" if pa.types.is_signed_integer(chunk.type) else "u"
    dtype = np.dtype(f"{kind}{chunk.type.bit_width // 8}")
    return np.frombuffer(chunk.buffers()[1], dtype, len(chunk), chunk.offset * dtype.itemsize)


def read_only_ints(column: pa.ChunkedArray) -> np.ndarray:
    """An int64 column as one read-only numpy array (read-only whether or not it was copied, so
    the compiled machine always sees one array type: its code is loaded early for that type)."""
    if column.num_chunks == 0:
        values = np.zeros(0, np.int64)
    else:
        values = np.ascontiguousarray(
            column.combine_chunks().to_numpy(zero_copy_only=False), dtype=np.int64
        )
    values.flags.writeable = False
    return values


def run_starts(changed: np.ndarray, n: int) -> np.ndarray:
    """Offsets of runs in a sorted column (``changed[i]``: row i+1 differs from row i), + end."""
    if n == 0:
        return np.zeros(1, np.int64)
    inner = np.flatnonzero(changed) + 1
    return np.concatenate(([0], inner, [n])).astype(np.int64)


def explain_plan(con: duckdb.DuckDBPyConnection, plan: Plan) -> str:
    """DuckDB's physical plan for a plan's SQL."""
    rows = con.execute(f"EXPLAIN {plan.sql}", dict(plan.params)).fetchall()
    return "\n".join(str(row[1]) for row in rows)
