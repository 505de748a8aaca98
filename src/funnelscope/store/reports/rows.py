"""The report row reader: chunks of rows become the final columns, and every row that cannot
be counted is set aside as a :class:`~funnelscope.store.bad_rows.BadRow`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from funnelscope.store.bad_rows import BadRow
from funnelscope.store.reports.cell_parsing import (
    BAD_DAY,
    DATE_FIX,
    BoolArray,
    DateReader,
    FloatArray,
    IntArray,
    NumberReader,
    number_problem,
    parse_numbers,
)
from funnelscope.store.reports.columns import MONEY, ColumnPlan, ReportMapping, word_set

_TOTAL_WORDS: Final = word_set(
    """
    total totals summary итого всього всего 合计 总计 總計 합계 gesamt summe totaal totale
    """
) | {"grand total"}
_TOTALS_REASON: Final = (
    "looks like a totals row (the sum of the rows above); counting it would double every number"
)
_TOTALS_FIX: Final = (
    "nothing to do if it is the export's total line; remove it from the file to silence this"
)


@dataclass(frozen=True, eq=False)
class ReportSource:
    """One report file, read: a date, dimension texts and measure values per kept row."""

    path: str
    dimensions: tuple[str, ...]
    dimension_columns: dict[str, str]
    measures: dict[str, str]
    dates: np.ndarray
    dims: dict[str, np.ndarray]
    values: dict[str, np.ndarray]
    lines: np.ndarray
    rejected: tuple[BadRow, ...]
    notes: tuple[str, ...]
    date_column: str = ""
    """The header of the column the dates came from."""

    @property
    def rows(self) -> int:
        """Number of kept rows."""
        return len(self.lines)


# ---------------------------------------------------------------------------------------------
# assembling rows into columns


@dataclass
class ColumnCells:
    """One column of a chunk: text cells, or typed numbers (NaN = null) or days (NaT = null)."""

    text: list[str] | None = None
    numbers: FloatArray | None = None
    days: npt.NDArray[np.datetime64] | None = None


class _Strip(dict[str, str]):
    """Stripped text, computed once per distinct cell (dimension values repeat a lot)."""

    def __missing__(self, key: str) -> str:
        value = self[key] = key.strip()
        return value


def _is_total(text: str) -> bool:
    """'Total', 'Grand total:', 'Итого', and Google Ads' 'Total: Account'."""
    head, _, _ = text.casefold().partition(":")
    return head.strip() in _TOTAL_WORDS


@dataclass
class _Problem:
    column: int  # column index; -1 for whole-row problems that outrank any cell
    field: str
    value: str
    reason: str
    fix: str


class RowAssembler:
    """Collects chunks of rows into the final columns and the rows set aside."""

    def __init__(
        self, source: str, plan: ColumnPlan, mapping: ReportMapping, numbers: NumberReader
    ):
        self.source = source
        self.plan = plan
        self.mapping = mapping
        self.numbers = numbers
        self.rows = 0
        self.starts: list[IntArray] = []
        self.ends: list[IntArray] = []
        self.dim_text: dict[int, list[str]] = {j: [] for _, j in plan.dims}
        self.date_text: list[str] = []
        self.date_days: list[npt.NDArray[np.datetime64]] = []
        self.values: dict[str, list[FloatArray]] = {k: [] for k in plan.measures}
        self.blanks: dict[str, list[BoolArray]] = {k: [] for k in plan.measures}
        self.problems: dict[int, _Problem] = {}
        self.dropped: list[int] = []
        self.totals: list[int] = []
        self.strips = {j: _Strip() for j in (plan.date, *self.dim_text)}

    def _problem(self, row: int, problem: _Problem) -> None:
        old = self.problems.get(row)
        if old is None or problem.column < old.column:
            self.problems[row] = problem

    def add(self, cols: dict[int, ColumnCells], starts: IntArray, ends: IntArray) -> None:
        n, base = len(starts), self.rows
        headers = self.plan.headers
        self.starts.append(starts)
        self.ends.append(ends)
        stripped: dict[int, list[str]] = {}
        for j, cells in cols.items():
            if cells.text is not None and (j == self.plan.date or j in self.dim_text):
                stripped[j] = list(map(self.strips[j].__getitem__, cells.text))
        for j, part in self.dim_text.items():
            part.extend(stripped[j])
        date_cells = cols[self.plan.date]
        if date_cells.days is not None:
            self.date_days.append(date_cells.days)
        else:
            self.date_text.extend(stripped[self.plan.date])

        blanks: dict[str, BoolArray] = {}
        for key, j in self.plan.measures.items():
            cells = cols[j]
            if cells.numbers is not None:
                blank = np.isnan(cells.numbers)
                vals = np.where(blank, 0.0, cells.numbers) + 0.0
                bad = [(int(i), "negative") for i in np.flatnonzero(vals < 0)]
                shown = cells.numbers
            else:
                assert cells.text is not None
                vals, blank, bad = parse_numbers(cells.text, self.numbers)
                shown = None
            for i, code in bad:
                value = _repr_number(shown[i]) if shown is not None else _text(cells, i)
                reason, fix = number_problem(code, value, key)
                self._problem(base + i, _Problem(j, headers[j], value, reason, fix))
            self.values[key].append(vals)
            self.blanks[key].append(blank)
            blanks[key] = blank

        self._find_totals(stripped, date_cells, blanks, base)
        self.rows += n

    def _find_totals(
        self,
        stripped: dict[int, list[str]],
        date_cells: ColumnCells,
        blanks: dict[str, BoolArray],
        base: int,
    ) -> None:
        """Set aside totals rows: a totals word in the first filled date/dimension cell, or
        counts under an entirely blank date and dimensions. Wholly blank rows are dropped."""
        headers, date_j = self.plan.headers, self.plan.date
        order = sorted(stripped)
        for pos, j in enumerate(order):
            col = stripped[j]
            words = {v for v in set(col) if v and _is_total(v)}
            if not words:
                continue
            earlier = order[:pos]
            dated = date_cells.days is not None and date_j < j
            for i, v in enumerate(col):
                if v not in words or any(stripped[k][i] for k in earlier):
                    continue
                if dated and date_cells.days is not None and not np.isnat(date_cells.days[i]):
                    continue
                self._set_totals(base + i, _Problem(-1, headers[j], v, _TOTALS_REASON, _TOTALS_FIX))
        if date_cells.days is not None:
            no_date = [int(i) for i in np.flatnonzero(np.isnat(date_cells.days))]
        else:
            dcol = stripped[date_j]
            no_date = [i for i, v in enumerate(dcol) if not v] if "" in set(dcol) else []
        dim_cols = [stripped[j] for _, j in self.plan.dims if j in stripped]
        for i in no_date:
            if any(col[i] for col in dim_cols):
                continue
            present = [key for key, blank in blanks.items() if not blank[i]]
            if present:
                self._set_totals(base + i, _Problem(-1, "", "", _TOTALS_REASON, _TOTALS_FIX))
            else:
                self.dropped.append(base + i)
                self.problems.pop(base + i, None)

    def _set_totals(self, row: int, problem: _Problem) -> None:
        if row not in self.problems or self.problems[row].column >= 0:
            self.totals.append(row)
        self._problem(row, problem)

    def finish(
        self,
        raw: RawLookup,
        reader_notes: list[str],
        ragged: Sequence[tuple[int, int, str]] = (),
    ) -> ReportSource:
        plan, headers, n = self.plan, self.plan.headers, self.rows
        starts = np.concatenate(self.starts) if self.starts else np.zeros(0, np.int64)
        ends = np.concatenate(self.ends) if self.ends else np.zeros(0, np.int64)
        dropped = np.zeros(n, dtype=np.bool_)
        dropped[self.dropped] = True
        date_header = headers[plan.date]
        date_notes: list[str] = []
        if self.date_days:
            day_values = np.concatenate(self.date_days).astype("datetime64[D]")
            days = day_values.astype(np.int64)
            missing = np.isnat(day_values)
            days[missing] = BAD_DAY
        else:
            reader = DateReader(self.source, date_header, self.mapping.date_format)
            days = reader.read(self.date_text)
            date_notes = reader.notes
            if self.mapping.date_format and self.date_text:
                date_notes.append(
                    f"dates in {date_header!r} read with --date-format {self.mapping.date_format}"
                )
        for i in np.flatnonzero(days == BAD_DAY):
            row = int(i)
            if dropped[row]:
                continue
            text = self.date_text[row] if self.date_text else ""
            reason = f"{text!r} is not a date" if text else "the date is empty"
            self._problem(row, _Problem(plan.date, date_header, text, reason, DATE_FIX))

        kept = ~dropped
        bad_rows = np.fromiter(self.problems, dtype=np.int64, count=len(self.problems))
        kept[bad_rows] = False

        values: dict[str, np.ndarray] = {}
        notes: list[str] = []
        for key in (*self.mapping.stages, *MONEY):
            if key == plan.counted:
                values[key] = np.ones(int(kept.sum()), dtype=np.float64)
                continue
            if key not in plan.measures:
                continue
            column = headers[plan.measures[key]]
            joined = np.concatenate(self.values[key]) if n else np.zeros(0, np.float64)
            values[key] = joined[kept]
            blank = np.concatenate(self.blanks[key]) if n else np.zeros(0, np.bool_)
            empties = int((blank & kept).sum())
            if empties:
                what = "count" if key not in MONEY else "value"
                notes.append(
                    f"{empties:,} empty {what}{'s' * (empties != 1)} in {column!r} read as 0"
                )
        if self.numbers.comma_read_as_decimal:
            example = self.numbers.comma_read_as_decimal
            notes.append(
                f"',' is the decimal mark in this ';'-separated file: {example!r} read as "
                f"{example.replace(',', '.')}"
            )
        if self.numbers.dot_read_as_thousands:
            example = self.numbers.dot_read_as_thousands
            notes.append(
                f"'.' groups thousands in this ';'-separated file: {example!r} read as "
                f"{example.replace('.', '')}"
            )
        totals = sorted(int(starts[r]) for r in set(self.totals))
        if totals:
            shown = ", ".join(f"{line:,}" for line in totals[:5])
            more = f" and {len(totals) - 5} more" if len(totals) > 5 else ""
            if len(totals) == 1:
                notes.append(f"line {shown} looks like a totals row; set aside")
            else:
                notes.append(f"lines {shown}{more} look like totals rows; set aside")
        if self.dropped:
            k = len(self.dropped)
            notes.append(f"skipped {k:,} row{'s' * (k != 1)} with no values")

        spans = {int(starts[r]): int(ends[r]) for r in self.problems}
        spans.update((start, end) for start, end, _ in ragged)
        raws = raw(sorted(spans.items()))
        rejected = [
            BadRow(
                source=self.source,
                line=int(starts[row]),
                reason=p.reason,
                raw=raws.get(int(starts[row]), ""),
                field=p.field,
                value=p.value,
                fix=p.fix,
            )
            for row, p in self.problems.items()
        ]
        rejected += [
            BadRow(
                source=self.source,
                line=start,
                reason=why,
                raw=raws.get(start, ""),
                fix="check quoting or the delimiter",
            )
            for start, _, why in ragged
        ]
        measures = {
            key: ("(rows)" if key == plan.counted else headers[plan.measures[key]])
            for key in values
        }
        return ReportSource(
            path=self.source,
            dimensions=tuple(name for name, _ in plan.dims),
            dimension_columns={name: headers[j] for name, j in plan.dims},
            measures=measures,
            dates=days[kept].astype("datetime64[D]"),
            dims={
                name: np.array(self.dim_text[j], dtype=object)[kept] if n else _empty_text()
                for name, j in plan.dims
            },
            values=values,
            lines=starts[kept].astype(np.int64),
            rejected=tuple(sorted(rejected, key=lambda r: r.line)),
            notes=(*reader_notes, *plan.notes, *date_notes, *notes),
            date_column=headers[plan.date],
        )


def _empty_text() -> np.ndarray:
    return np.zeros(0, dtype=object)


def _text(cells: ColumnCells, i: int) -> str:
    assert cells.text is not None
    return cells.text[i].strip()


def _repr_number(value: float) -> str:
    """A typed number as a cell text: 12.0 -> '12'."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


RawLookup = Callable[[list[tuple[int, int]]], dict[int, str]]
"""Raw text of records given as (first line, last line) -> {first line: text}."""
