"""A report set: several exported tables of counts joined into one funnel.

Each measure (a stage count, cost, revenue) comes from exactly one source. A rate between two
stages can be split by the dimensions both of its sources have: CTR by keyword when the ad report
has keywords, the order rate by sales rep when the inquiry log and the order list both name the
rep. Dimension values match across sources ignoring case and surrounding spaces (``spring-brand``
in web analytics is the ad report's ``Spring-Brand``); the first spelling seen is shown.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import numpy.typing as npt

from funnelscope.analyses.marketing.cells import (
    NOT_SET,
    DiagnosisInput,
    FloatArray,
    IntArray,
    Layer,
    LayerCells,
    Periods,
)
from funnelscope.analyses.marketing.periods import (
    calendar,
    index_of,
    period_end,
    window_notes,
    windows,
)
from funnelscope.analyses.marketing.yields import ChainYields
from funnelscope.errors import SpecError
from funnelscope.model.templates import StageTemplate, get_template
from funnelscope.store.reports import ReportMapping, ReportSource, read_report

MONEY = ("cost", "revenue")


@dataclass(frozen=True)
class Unmatched:
    """Rows of `source` that `other` has nothing to match with: a join value `other` never has
    (`dimension` set: often a spelling difference), or a date + join key it lacks."""

    source: str
    other: str
    rows: int
    totals: dict[str, float]
    examples: tuple[str, ...]
    dimension: str | None = None
    hint: str = ""

    def text(self) -> str:
        sums = ", ".join(f"{name} {value:,.0f}" for name, value in self.totals.items())
        rows = f"{self.rows:,} row{'s' if self.rows != 1 else ''} ({sums})"
        examples = "; ".join(self.examples)
        if self.dimension is not None:
            text = (
                f"{self.source}: {rows} have a {self.dimension} that {self.other} never has: "
                f"{examples}"
            )
        else:
            text = (
                f"{self.source}: {rows} have a date and key that {self.other} lacks, "
                f"e.g. {examples}"
            )
        return text + (f" ({self.hint})" if self.hint else "")


@dataclass(frozen=True)
class ReportSet:
    """Loaded report sources with the funnel they make together."""

    template: StageTemplate
    sources: tuple[ReportSource, ...]
    stages: tuple[str, ...]
    """The template's stages that some source provides, in funnel order."""
    provider: dict[str, int]
    """Measure (stage key, cost, revenue) -> index of the source that provides it."""
    join: tuple[str, ...]
    unmatched: tuple[Unmatched, ...]
    codes: tuple[dict[str, IntArray], ...]
    """Per source, per dimension: each row's value code (shared by all sources)."""
    values: dict[str, tuple[str, ...]]
    """Per dimension: the display text of each code."""
    notes: tuple[str, ...]

    def label(self, stage: str) -> str:
        for s in self.template.stages:
            if s.key == stage:
                return s.label
        return stage

    @property
    def labels(self) -> dict[str, str]:
        return {stage: self.label(stage) for stage in self.stages}

    def dims_of(self, measure: str) -> tuple[str, ...]:
        return self.sources[self.provider[measure]].dimensions

    @property
    def final(self) -> str:
        return self.stages[-1]

    @property
    def first_date(self) -> np.datetime64:
        return min(s.dates.min() for s in self.sources if s.rows)

    @property
    def last_date(self) -> np.datetime64:
        return max(s.dates.max() for s in self.sources if s.rows)


def load_report_set(
    paths: Sequence[str | Path],
    mapping: ReportMapping | None = None,
    template: str = "search-marketing",
    join: Sequence[str] | None = None,
    drop: Mapping[str, Sequence[str]] | None = None,
) -> ReportSet:
    """Read every source and check they make one funnel. `drop` maps a file (name as given or
    base name) to measures to ignore in it, for a measure two files both have."""
    model = get_template(template)
    if mapping is None:
        mapping = ReportMapping(
            stages=model.stage_keys, stage_labels={s.key: s.label for s in model.stages}
        )
    if not paths:
        raise SpecError("reports", "no report files given", "pass one or more CSV/Parquet files")
    several = len(paths) > 1
    if several:
        mapping = replace(mapping, optional_columns=True)
    sources = [read_report(path, mapping) for path in paths]
    if several:
        _check_explicit(mapping, sources)
    if not any(source.rows for source in sources):
        from funnelscope.errors import IngestError

        first = next((r for s in sources for r in s.rejected), None)
        example = f"; the first: {first.source}:{first.line}: {first.reason}" if first else ""
        raise IngestError(
            ", ".join(s.path for s in sources),
            f"no row could be read{example}",
            "every row was rejected: check the delimiter (--delimiter), the date column "
            "(--date-column, --date-format) and how numbers are written",
        )
    for key in drop or {}:
        if not any(key in (s.path, Path(s.path).name) for s in sources):
            raise SpecError(
                "--drop",
                f"{key!r} is not one of the files",
                f"use a file name as given: {', '.join(Path(s.path).name for s in sources)}",
            )
    sources = [_without(source, drop or {}) for source in sources]
    return assemble(model, sources, join)


def _check_explicit(mapping: ReportMapping, sources: Sequence[ReportSource]) -> None:
    """A column named by a flag must be in some file (flags apply to every file that has it)."""
    import difflib

    from funnelscope.errors import IngestError

    def norm(text: str) -> str:
        return "".join(ch for ch in text.casefold() if ch.isalnum())

    wanted = [
        (f"--stage {k}=" if k not in MONEY else f"--{k} ", v) for k, v in mapping.columns.items()
    ]
    if mapping.date_column:
        wanted.append(("--date-column ", mapping.date_column))
    used = {norm(c) for s in sources for c in (*s.measures.values(), s.date_column)}
    for flag, column in wanted:
        if norm(column) in used:
            continue
        headers = sorted(
            {
                h
                for s in sources
                for h in (*s.dimension_columns.values(), *s.measures.values(), s.date_column)
            }
        )
        close = difflib.get_close_matches(column, headers, n=1, cutoff=0.5)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise IngestError(
            ", ".join(s.path for s in sources),
            f'{flag}"{column}": no file has that column',
            f"{hint}the files' columns are {', '.join(repr(h) for h in headers if h != '(rows)')}",
        )


def _without(source: ReportSource, drop: Mapping[str, Sequence[str]]) -> ReportSource:
    names = {source.path, Path(source.path).name}
    gone = {m for key, measures in drop.items() if key in names for m in measures}
    if not gone:
        return source
    unknown = gone - set(source.values)
    if unknown:
        raise SpecError(
            "--drop",
            f"{source.path} has no measure {sorted(unknown)[0]!r}",
            f"it has: {', '.join(source.values) or 'none'}",
        )
    return replace(
        source,
        measures={k: v for k, v in source.measures.items() if k not in gone},
        values={k: v for k, v in source.values.items() if k not in gone},
        notes=(*source.notes, f"ignored {', '.join(sorted(gone))} (--drop)"),
    )


def assemble(
    model: StageTemplate, sources: Sequence[ReportSource], join: Sequence[str] | None = None
) -> ReportSet:
    """Check that the sources make one funnel and code their dimension values jointly."""
    provider: dict[str, int] = {}
    clashes: list[tuple[str, str, str]] = []
    for index, source in enumerate(sources):
        for measure in source.values:
            if measure in provider:
                clashes.append((measure, sources[provider[measure]].path, source.path))
            else:
                provider[measure] = index
    if clashes:
        both = "; ".join(f"{m} is in both {a} and {b}" for m, a, b in clashes)
        drops = " ".join(f"--drop {Path(b).name}:{m}" for m, _, b in clashes)
        raise SpecError("reports", both, f"keep one of each: {drops}")
    stages = tuple(stage for stage in model.stage_keys if stage in provider)
    if len(stages) < 2:
        found = ", ".join(stages) or "none"
        raise SpecError(
            "reports",
            f"the files give {len(stages)} stage(s) of {model.name} ({found}); a funnel needs two",
            f"stages are {', '.join(model.stage_keys)}; map columns with --stage STAGE=COLUMN",
        )
    shared = set(sources[0].dimensions)
    for source in sources[1:]:
        shared &= set(source.dimensions)
    if join is None:
        keys = tuple(d for d in sources[0].dimensions if d in shared)
    else:
        keys = tuple(join)
        for source in sources:
            missing = [k for k in keys if k != "date" and k not in source.dimensions]
            if missing:
                raise SpecError(
                    "--join",
                    f"{source.path} has no column {missing[0]!r}",
                    f"its dimensions are: {', '.join(source.dimensions) or 'none'}; "
                    f"join on columns every file has ({', '.join(sorted(shared)) or 'date only'})",
                )
    codes, values = _code_dimensions(sources, stages, provider)
    report = ReportSet(
        template=model,
        sources=tuple(sources),
        stages=stages,
        provider=provider,
        join=tuple(k for k in keys if k != "date"),
        unmatched=(),
        codes=codes,
        values=values,
        notes=tuple(
            f"{Path(source.path).name}: {note}" for source in sources for note in source.notes
        ),
    )
    return replace(report, unmatched=tuple(_unmatched(report)))


def _code_dimensions(
    sources: Sequence[ReportSource], stages: Sequence[str], provider: Mapping[str, int]
) -> tuple[tuple[dict[str, IntArray], ...], dict[str, tuple[str, ...]]]:
    """One code per distinct value (case and spaces ignored) per dimension across sources."""
    order = sorted(
        range(len(sources)),
        key=lambda i: min(
            (stages.index(m) for m in sources[i].values if m in stages), default=len(stages)
        ),
    )
    keys: dict[str, dict[str, int]] = {}
    shown: dict[str, list[str]] = {}
    codes: list[dict[str, IntArray]] = [{} for _ in sources]
    for index in order:
        for dimension in sources[index].dimensions:
            raw = sources[index].dims[dimension]
            distinct, inverse = _first_seen(raw)
            table = keys.setdefault(dimension, {})
            texts = shown.setdefault(dimension, [])
            mapped = np.empty(len(distinct), dtype=np.int64)
            for i, text in enumerate(distinct):
                key = str(text).strip().casefold()
                if key not in table:
                    table[key] = len(texts)
                    texts.append(str(text).strip() or NOT_SET)
                mapped[i] = table[key]
            codes[index][dimension] = mapped[inverse]
    return tuple(codes), {d: tuple(t) for d, t in shown.items()}


def _first_seen(raw: np.ndarray) -> tuple[list[str], IntArray]:
    """Distinct texts in the order first seen, and each row's index into them (Arrow's
    dictionary encoding: C++ speed on millions of rows)."""
    import pyarrow as pa

    encoded = pa.array(raw, type=pa.string(), from_pandas=True).dictionary_encode()
    indices = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    return [str(t) for t in encoded.dictionary.to_pylist()], indices


def _rows_in(mine: npt.NDArray[np.int64], theirs: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
    """Which rows of `mine` (integer keys, one row each) also occur in `theirs`."""
    if mine.shape[1] == 0:
        return np.ones(len(mine), dtype=bool)
    flat = _flat_keys(np.concatenate([mine, theirs]))
    if flat is not None:
        return np.isin(flat[: len(mine)], flat[len(mine) :])
    present = {tuple(row) for row in np.unique(theirs, axis=0).tolist()}
    return np.array([tuple(row) in present for row in mine.tolist()], dtype=bool)


def _unmatched(report: ReportSet) -> list[Unmatched]:
    """What does not match across files: join values one file never has (both ways, with the
    closest spelling), and rows of a later-stage file whose date + key an earlier-stage file
    lacks (orders on a day a campaign had no ad data). Earlier-stage rows without later-stage
    rows are normal (a day without orders) and not reported."""
    out: list[Unmatched] = []
    sources = report.sources
    stage_of = {i: _first_stage(report, i) for i in range(len(sources))}
    for a, source in enumerate(sources):
        if not source.rows:
            continue
        known_elsewhere = np.ones(source.rows, dtype=bool)
        for b, other in enumerate(sources):
            if a == b or not other.rows:
                continue
            for dimension in report.join:
                mine, theirs = report.codes[a][dimension], report.codes[b][dimension]
                missing = ~np.isin(mine, np.unique(theirs))
                if not missing.any():
                    continue
                known_elsewhere &= ~missing
                names = [report.values[dimension][c] for c in np.unique(mine[missing])]
                hint = _closest(names[0], [report.values[dimension][c] for c in np.unique(theirs)])
                out.append(
                    Unmatched(
                        source.path,
                        other.path,
                        int(missing.sum()),
                        {m: float(v[missing].sum()) for m, v in source.values.items()},
                        tuple(repr(n) for n in names[:3]),
                        dimension,
                        hint,
                    )
                )
        for b, other in enumerate(sources):
            if a == b or not other.rows or stage_of[b] >= stage_of[a]:
                continue
            mine_keys = _date_keys(report, a)
            miss = ~_rows_in(mine_keys, _date_keys(report, b)) & known_elsewhere
            if not miss.any():
                continue
            examples = []
            for row in np.unique(mine_keys[miss], axis=0)[:3].tolist():
                parts = [str(np.datetime64(int(row[0]), "D"))] + [
                    report.values[d][code] for d, code in zip(report.join, row[1:], strict=True)
                ]
                examples.append("/".join(parts))
            out.append(
                Unmatched(
                    source.path,
                    other.path,
                    int(miss.sum()),
                    {m: float(v[miss].sum()) for m, v in source.values.items()},
                    tuple(examples),
                )
            )
    return out


def _first_stage(report: ReportSet, index: int) -> int:
    stages = [report.stages.index(m) for m in report.sources[index].values if m in report.stages]
    return min(stages, default=len(report.stages))


def _date_keys(report: ReportSet, index: int) -> npt.NDArray[np.int64]:
    source = report.sources[index]
    columns = [source.dates.astype("datetime64[D]").astype(np.int64)]
    columns += [report.codes[index][d] for d in report.join]
    return np.stack(columns, axis=1)


def _closest(name: str, known: Sequence[str]) -> str:
    import difflib

    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return f"did you mean {close[0]!r}?" if close else ""


# --- grouping ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Grouped:
    """Sums of some measures per group (dimension codes + period number)."""

    dims: tuple[str, ...]
    keys: npt.NDArray[np.int64]
    """One row per group: the dimension codes then the period number."""
    sums: dict[str, FloatArray]


def group(
    report: ReportSet,
    measures: Sequence[str],
    by: Sequence[str],
    starts: npt.NDArray[np.datetime64] | None,
    grain: str,
) -> Grouped:
    """Sum `measures` by `by` (and period when `starts` is given), outer-joined across sources;
    a measure whose source lacks one of `by` is left out (see `available`)."""
    parts: list[tuple[npt.NDArray[np.int64], dict[str, FloatArray]]] = []
    by_source: dict[int, list[str]] = {}
    for measure in measures:
        by_source.setdefault(report.provider[measure], []).append(measure)
    for index, names in by_source.items():
        source = report.sources[index]
        if not source.rows:
            continue
        columns = [report.codes[index][d] for d in by]
        if starts is not None:
            columns.append(index_of(source.dates, starts, grain))
        if columns:
            keys, inverse = _unique_rows(np.stack(columns, axis=1))
        else:
            keys = np.zeros((1, 0), dtype=np.int64)
            inverse = np.zeros(source.rows, dtype=np.int64)
        sums: dict[str, FloatArray] = {
            name: np.bincount(inverse, weights=source.values[name], minlength=len(keys)).astype(
                np.float64
            )
            for name in names
        }
        parts.append((keys.astype(np.int64), sums))
    width = len(by) + (1 if starts is not None else 0)
    if not parts:
        return Grouped(
            tuple(by), np.zeros((0, width), np.int64), {m: np.zeros(0) for m in measures}
        )
    every, _ = _unique_rows(np.concatenate([keys for keys, _ in parts]))
    out: dict[str, FloatArray] = {}
    for keys, sums in parts:
        rows = _row_index(every, keys)
        for name, values in sums.items():
            column = np.zeros(len(every))
            column[rows] = values
            out[name] = column
    for measure in measures:
        out.setdefault(measure, np.zeros(len(every)))
    return Grouped(tuple(by), every, out)


def _row_index(every: npt.NDArray[np.int64], keys: npt.NDArray[np.int64]) -> IntArray:
    """Positions of `keys` rows in `every` (both unique, `every` sorted lexicographically)."""
    if every.shape[1] == 0:
        return np.zeros(len(keys), dtype=np.int64)
    flat = _flat_keys(np.concatenate([every, keys]))
    if flat is not None:
        return np.searchsorted(flat[: len(every)], flat[len(every) :]).astype(np.int64)
    lookup = {tuple(row): i for i, row in enumerate(every.tolist())}
    return np.array([lookup[tuple(row)] for row in keys.tolist()], dtype=np.int64)


def _flat_keys(rows: npt.NDArray[np.int64]) -> IntArray | None:
    """One int64 per row, ordered as the rows sort lexicographically (None: too wide)."""
    low = rows.min(axis=0)
    span = rows.max(axis=0) - low + 1
    if float(np.prod(span.astype(np.float64))) >= 2**62:
        return None
    flat: IntArray = np.ravel_multi_index((rows - low).T, tuple(int(s) for s in span))
    return flat.astype(np.int64)


def _unique_rows(rows: npt.NDArray[np.int64]) -> tuple[npt.NDArray[np.int64], IntArray]:
    """Distinct rows, sorted, and each row's index into them; a 1-D sort on one integer per
    row where the codes allow (np.unique over rows sorts them as structured records: slow)."""
    if len(rows) == 0:
        return rows.reshape(0, rows.shape[1]), np.zeros(0, dtype=np.int64)
    flat = _flat_keys(rows)
    if flat is None:
        keys, inverse = np.unique(rows, axis=0, return_inverse=True)
        return keys.astype(np.int64), inverse.reshape(-1).astype(np.int64)
    _, first, inverse = np.unique(flat, return_index=True, return_inverse=True)
    return rows[first].astype(np.int64), inverse.reshape(-1).astype(np.int64)


def available(report: ReportSet, measure: str, by: Sequence[str]) -> bool:
    return all(d in report.dims_of(measure) for d in by)


# --- diagnosis input ----------------------------------------------------------------------


def period_table(
    report: ReportSet, grain: str
) -> tuple[npt.NDArray[np.datetime64], npt.NDArray[np.int64]]:
    """Period starts over the data's whole range, and each period's days of the top stage's
    data: the calendar days its file covers, from its first date to its last date plus its
    usual spacing less a day (daily rows: the last date; Monday-dated weekly rows: that Sunday)."""
    starts = calendar(report.first_date, report.last_date, grain)
    ends = np.array([period_end(s, grain) for s in starts], dtype="datetime64[D]")
    begin = starts.astype("datetime64[D]")
    top = report.sources[report.provider[report.stages[0]]]
    dates = np.unique(top.dates.astype("datetime64[D]"))
    if len(dates) == 0:
        return starts, np.zeros(len(starts), dtype=np.int64)
    gaps = np.diff(dates.astype(np.int64))
    spacing = int(np.bincount(gaps).argmax()) if len(gaps) else 1
    covered_from = dates[0]
    covered_to = dates[-1] + np.timedelta64(max(spacing, 1) - 1, "D")
    begin = np.maximum(begin, covered_from)
    ends = np.minimum(ends, covered_to)
    days = np.maximum((ends - begin).astype(np.int64) + 1, 0)
    return starts, days


def layer_cells(
    report: ReportSet, starts: npt.NDArray[np.datetime64], grain: str
) -> tuple[list[LayerCells], list[str]]:
    """Cells for the top stage's volume and every rate between consecutive stages."""
    out: list[LayerCells] = []
    notes: list[str] = []
    labels = report.labels
    top = report.stages[0]
    dims = report.dims_of(top)
    grouped = group(report, [top], dims, starts, grain)
    out.append(_cells(Layer(top, None, labels[top], None), report, grouped, None, top))
    for before, after in zip(report.stages, report.stages[1:], strict=False):
        both = report.dims_of(before)
        shared = tuple(d for d in both if d in report.dims_of(after))
        grouped = group(report, [before, after], shared, starts, grain)
        orphan = (grouped.sums[before] == 0) & (grouped.sums[after] > 0)
        if orphan.any():
            notes.append(
                f"{labels[after].lower()}: {grouped.sums[after][orphan].sum():,.0f} of "
                f"{grouped.sums[after].sum():,.0f} are in {'/'.join(shared) or 'periods'} "
                f"groups with no {labels[before].lower()}; they are left out of the "
                f"{labels[before].lower()} -> {labels[after].lower()} rate"
            )
        keep = ~orphan
        layer = Layer(after, before, labels[after], labels[before])
        out.append(_cells(layer, report, grouped, keep, before, after))
    return out, notes


def _cells(
    layer: Layer,
    report: ReportSet,
    grouped: Grouped,
    keep: npt.NDArray[np.bool_] | None,
    before: str,
    after: str | None = None,
) -> LayerCells:
    keys = grouped.keys if keep is None else grouped.keys[keep]
    dims = {
        d: np.array(report.values[d], dtype=object)[keys[:, i]] for i, d in enumerate(grouped.dims)
    }
    if after is None:  # a volume: the count is k
        k = grouped.sums[before] if keep is None else grouped.sums[before][keep]
        n = np.zeros_like(k)
    else:
        n = grouped.sums[before][keep]
        k = grouped.sums[after][keep]
    return LayerCells(
        layer=layer,
        dims=dims,
        period=keys[:, -1].astype(np.int64),
        n=n,
        k=k,
        count_ratio=bool(after is not None and (k > n).any()),
    )


class ReportYields(ChainYields):
    """Chain yields, and revenue per final conversion from the source that has revenue: the
    segment's own where that source has its dimension, else the whole report's."""

    def __init__(
        self, report: ReportSet, cells: Sequence[LayerCells], periods: Periods, grain: str
    ) -> None:
        super().__init__(cells, periods, report.stages)
        self.report = report
        self.grain = grain
        self._grouped: dict[tuple[tuple[str, ...], tuple[str, ...]], Grouped] = {}

    def revenue_per_final(self, dimension: str | None, value: str | None) -> float | None:
        report = self.report
        if "revenue" not in report.provider:
            return None
        for dim, val in ((dimension, value), (None, None)):
            by = () if dim is None else (dim,)
            if not (available(report, "revenue", by) and available(report, report.final, by)):
                continue
            revenue, count = self._current_sums(["revenue", report.final], by, val)
            if count > 0:
                return revenue / count
        return None

    def cost_per_top(self, dimension: str | None, value: str | None) -> float | None:
        """The cost of one more top-stage unit (a CPM / 1000), when the cost is in the top
        stage's file: the segment's own where that file has its dimension, else the whole's."""
        report = self.report
        top = report.stages[0]
        if "cost" not in report.provider or report.provider["cost"] != report.provider[top]:
            return None
        for dim, val in ((dimension, value), (None, None)):
            by = () if dim is None else (dim,)
            if not available(report, top, by):
                continue
            cost, count = self._current_sums(["cost", top], by, val)
            if count > 0:
                return cost / count
        return None

    def _current_sums(
        self, measures: list[str], by: tuple[str, ...], value: str | None
    ) -> list[float]:
        key = (tuple(measures), by)
        if key not in self._grouped:
            starts, _ = period_table(self.report, self.grain)
            self._grouped[key] = group(self.report, measures, by, starts, self.grain)
        grouped = self._grouped[key]
        mask = np.isin(grouped.keys[:, -1], self.periods.current)
        if by:
            texts = np.array(self.report.values[by[0]], dtype=object)[grouped.keys[:, 0]]
            mask &= texts.astype(str) == value
        return [float(grouped.sums[m][mask].sum()) for m in measures]


def diagnosis_input(
    report: ReportSet, grain: str = "week", current: int = 4, baseline: int = 8
) -> DiagnosisInput:
    """The report set's layers as cells, with its periods and yields."""
    starts, days = period_table(report, grain)
    periods = windows(starts, days, grain, current, baseline)
    cells, notes = layer_cells(report, starts, grain)
    yields = ReportYields(report, cells, periods, grain)
    return DiagnosisInput(
        layers=tuple(cells),
        periods=periods,
        yields=yields,
        final_stage=report.final,
        final_label=report.label(report.final),
        stage_labels=report.labels,
        notes=(*notes, *window_notes(periods, current, baseline), *_gap_notes(report, periods)),
        final_total=yields._current_sums([report.final], (), None)[0],
    )


def _gap_notes(report: ReportSet, periods: Periods) -> tuple[str, ...]:
    """Current periods in which the top stage's file has no row at all (a missing export?)."""
    top = report.sources[report.provider[report.stages[0]]]
    starts = np.array(
        periods.labels if periods.grain != "month" else [f"{label}-01" for label in periods.labels],
        dtype="datetime64[D]",
    )
    present = set(index_of(top.dates.astype("datetime64[D]"), starts, periods.grain).tolist())
    empty = [periods.labels[p] for p in periods.current if p not in present]
    if not empty:
        return ()
    name = Path(top.path).name
    return (
        f"{name} has no rows in the current {periods.grain}(s) {', '.join(empty)}: they count "
        f"as zero {report.label(report.stages[0]).lower()} (a missing export?)",
    )
