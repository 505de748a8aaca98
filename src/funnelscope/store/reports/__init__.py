"""Read the tables marketers export into clean columns for report-level funnels.

Ad platform reports, web analytics exports, chat and call logs and order lists arrive as CSV
(plain, gzipped or saved from Excel) or Parquet, with title lines above the header, totals rows,
localised numbers and every date style. :func:`read_report` finds the header, maps columns to the
template's stages (plus cost and revenue), reads dates and numbers, and sets aside each row it
cannot count as a :class:`~funnelscope.store.bad_rows.BadRow` that names the line, the reason and
the fix. Every decision it takes is written to :attr:`ReportSource.notes` in plain words.

CSV goes through Python's ``csv`` module so that each row keeps its physical line number; rows
are gathered in chunks and parsed column by column, with a plain ``float()`` fast path and the
careful parser only for cells that need it.

Modules, in import order: ``columns`` (synonyms and the column plan), ``cell_parsing`` (number
and date cells), ``rows`` (the row reader: chunks of rows to columns and set-aside rows),
``files`` (opening CSV and Parquet files, title lines, the entry point).
"""

from funnelscope.store.reports.columns import DIMENSION_SYNONYMS, MEASURE_SYNONYMS, ReportMapping
from funnelscope.store.reports.files import read_report
from funnelscope.store.reports.rows import ReportSource

__all__ = [
    "DIMENSION_SYNONYMS",
    "MEASURE_SYNONYMS",
    "ReportMapping",
    "ReportSource",
    "read_report",
]
