"""Find, localise and rank a funnel's leaks: layers that perform below a reference.

For every layer and segment (one value of one dimension, or everything) the current window's
rate is compared with (a) the segment's own baseline periods, (b) its peers (the other values of
that dimension) and (c) a typical range. A comparison is a *leak* when the rate is at least
`min_gap` (relative) below the reference and the difference is significant after a
Benjamini-Hochberg correction over every comparison made. A leak's size is the final conversions
it costs: the to-stage units lost (from-count x rate gap) times what a to-stage unit yields.

One broken thing shows up in many segments (a broken landing page lowers its campaign, every
device, and the whole funnel). Segment B *explains* A when A, without B's cells, is no longer a
leak. A leak explained by another that it does not explain back (or by a narrower one that it
does explain back) is a symptom; only the others are reported, each listing its symptoms.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from funnelscope.analyses.marketing.cells import (
    NOT_SET,
    BoolArray,
    DiagnosisInput,
    LayerCells,
    Periods,
)
from funnelscope.analyses.marketing.knowledge import KnowledgeBase
from funnelscope.analyses.marketing.ranges import ReferenceRange
from funnelscope.stats.multiple import benjamini_hochberg
from funnelscope.stats.proportions import (
    Proportion,
    RateComparison,
    compare_to_fixed,
    compare_to_reference,
    dispersion,
    leave_one_out,
    wilson_interval,
)

REFERENCES = ("history", "peers", "range")


@dataclass(frozen=True)
class DiagnoseOptions:
    """How leaks are judged. `min_gap` is relative (0.10: at least 10% below the reference)."""

    alpha: float = 0.05
    min_gap: float = 0.10
    references: tuple[str, ...] = REFERENCES
    ranges: Mapping[str, ReferenceRange] = field(default_factory=dict)
    include_insignificant: bool = False


@dataclass(frozen=True)
class Comparison:
    """The segment's current rate against one reference."""

    reference: str
    rate: float
    reference_rate: float
    p_value: float
    """Benjamini-Hochberg adjusted over every comparison of the diagnosis."""
    significant: bool
    detail: str
    dispersion: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "reference": self.reference,
            "rate": self.rate,
            "reference_rate": self.reference_rate,
            "p_value": self.p_value,
            "significant": self.significant,
            "detail": self.detail,
            "dispersion": self.dispersion,
        }


@dataclass(frozen=True)
class Leak:
    """A layer in a segment performing below its reference, with what it costs and why."""

    layer: str
    from_stage: str | None
    segment: dict[str, str]
    context: dict[str, str]
    """Coarser dimensions the segment lies wholly inside (a keyword's campaign)."""
    rate: float
    reference_rate: float
    reference: str
    significant: bool
    p_value: float
    from_count: float
    to_count: float
    rate_interval: tuple[float, float] | None
    lost_to: float
    lost_final: float
    lost_revenue: float | None
    comparisons: tuple[Comparison, ...]
    symptoms: tuple[dict[str, Any], ...]
    """The same problem seen in other segments (folded in here), with their own loss."""
    causes: tuple[str, ...]
    actions: tuple[str, ...]
    evidence: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "layer": self.layer,
            "from_stage": self.from_stage,
            "segment": self.segment,
            "rate": self.rate,
            "reference_rate": self.reference_rate,
            "reference": self.reference,
            "lost_final": self.lost_final,
            "lost_revenue": self.lost_revenue,
            "significant": self.significant,
            "causes": list(self.causes),
            "actions": list(self.actions),
            "evidence": self.evidence,
            "p_value": self.p_value,
            "context": self.context,
            "from_count": self.from_count,
            "to_count": self.to_count,
            "rate_interval": list(self.rate_interval) if self.rate_interval else None,
            "lost_to": self.lost_to,
            "comparisons": [c.to_dict() for c in self.comparisons],
            "symptoms": list(self.symptoms),
        }


@dataclass
class _Test:
    reference: str
    comparison: RateComparison
    phi: float
    detail: str
    baseline: Proportion | None = None
    peers: Proportion | None = None
    p_adjusted: float = 1.0


@dataclass
class _Segment:
    cells: LayerCells
    dimension: str | None
    value: str | None
    codes: np.ndarray | None
    """The dimension's code per cell (shared by its segments); None: everything."""
    code: int
    current: Proportion
    tests: list[_Test]
    chosen: _Test | None = None
    lost_to: float = 0.0
    lost_final: float = 0.0
    _mask: BoolArray | None = None

    @property
    def mask(self) -> BoolArray:
        """The segment's cells, made when first asked for (only candidates ever are)."""
        if self._mask is None:
            if self.codes is None:
                self._mask = np.ones(len(self.cells), dtype=bool)
            else:
                self._mask = self.codes == self.code
        return self._mask

    @property
    def label(self) -> dict[str, str]:
        if self.dimension is None or self.value is None:
            return {}
        return {self.dimension: self.value or NOT_SET}


def find_leaks(
    data: DiagnosisInput, knowledge: KnowledgeBase, options: DiagnoseOptions | None = None
) -> list[Leak]:
    """Every leak of `data`, localised and ranked by lost final conversions (largest first)."""
    options = options or DiagnoseOptions()
    segments = [seg for cells in data.layers for seg in _segments(cells, data.periods, options)]
    tests = [test for seg in segments for test in seg.tests]
    for test, adjusted in zip(
        tests, benjamini_hochberg([t.comparison.p_value for t in tests]), strict=True
    ):
        test.p_adjusted = adjusted
    for seg in segments:
        _choose(seg, data, options)
    leaks: list[Leak] = []
    for cells in data.layers:
        candidates = [s for s in segments if s.cells is cells and s.chosen is not None]
        significant = [s for s in candidates if _significant(s, options)]
        found = _localise(significant, data.periods, options)
        for weak in (s for s in candidates if not _significant(s, options)):  # only with --all
            owners = [
                (root, symptoms)
                for root, symptoms in found
                if _explains(root, weak, data.periods, options)
            ]
            if owners:
                owners[0][1].append(weak)
            else:
                found.append((weak, []))
        sizes = {d: len(np.unique(v.astype(str))) for d, v in cells.dims.items()} if found else {}
        for root, symptoms in found:
            leaks.append(_leak(root, symptoms, data, knowledge, options, sizes))
    order = [cells.layer.key for cells in data.layers]
    leaks.sort(
        key=lambda leak: (-leak.lost_final, order.index(leak.layer), sorted(leak.segment.items()))
    )
    return leaks


def _segments(cells: LayerCells, periods: Periods, options: DiagnoseOptions) -> list[_Segment]:
    """Every segment of a layer with its comparisons. Each dimension's counts are summed per
    value and period in one pass, and peers come from the dimension's totals less the value's
    own, so the work grows with cells + values, not cells x values."""
    size = len(periods.labels)
    out: list[_Segment] = []
    whole_codes = np.zeros(len(cells), dtype=np.int64)
    dimensions: list[tuple[str | None, np.ndarray, np.ndarray]] = [
        (None, whole_codes, np.array(["(everything)"], dtype=object))
    ]
    for name, values in cells.dims.items():
        codes, uniques = _factorize(values)
        dimensions.append((name, codes, uniques))
    for dimension, codes, uniques in dimensions:
        count = len(uniques)
        flat = codes * size + cells.period
        k = np.bincount(flat, weights=cells.k, minlength=count * size).reshape(count, size)
        n = np.bincount(flat, weights=cells.n, minlength=count * size).reshape(count, size)
        seen = np.bincount(codes, minlength=count) > 0
        table = _Sums(cells, periods, n, k, seen)
        peers = None
        if dimension is not None and not cells.layer.is_volume and "peers" in options.references:
            peers = leave_one_out(table.n_now, table.k_now, cells.count_ratio)
        for code in range(count):
            seg = _build(
                table,
                dimension,
                None if dimension is None else str(uniques[code]),
                None if dimension is None else codes,
                code,
                periods,
                options,
                peers,
            )
            if seg is not None:
                out.append(seg)
    return out


class _Sums:
    """A dimension's counts per value and period, and per value in the current window."""

    def __init__(
        self,
        cells: LayerCells,
        periods: Periods,
        n: np.ndarray,
        k: np.ndarray,
        seen: np.ndarray,
    ) -> None:
        self.cells, self.periods, self.n, self.k, self.seen = cells, periods, n, k, seen
        now = list(periods.current)
        self.k_now = k[:, now].sum(axis=1)
        if cells.layer.is_volume:
            days = float(sum(periods.days[p] for p in periods.current))
            self.n_now = np.full(len(k), days)
        else:
            self.n_now = n[:, now].sum(axis=1)

    def baseline(self, code: int) -> list[Proportion]:
        """The value's counts in each baseline period that has data (a volume: days)."""
        p = self.periods
        if self.cells.layer.is_volume:
            return [Proportion(float(p.days[i]), float(self.k[code, i])) for i in p.baseline
                    if p.days[i]]  # fmt: skip
        return [Proportion(float(self.n[code, i]), float(self.k[code, i])) for i in p.baseline
                if self.n[code, i] > 0]  # fmt: skip


def _factorize(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    uniques, codes = np.unique(values.astype(str), return_inverse=True)
    return codes.reshape(-1).astype(np.int64), uniques


def _build(
    table: _Sums,
    dimension: str | None,
    value: str | None,
    codes: np.ndarray | None,
    code: int,
    periods: Periods,
    options: DiagnoseOptions,
    peers: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None,
) -> _Segment | None:
    cells = table.cells
    now = Proportion(float(table.n_now[code]), float(table.k_now[code]))
    if now.n <= 0 or not table.seen[code]:
        return None
    if cells.layer.is_volume and now.conversions <= 0 and not table.k[code].any():
        return None  # a volume that fell to zero is judged; one never seen is not
    seg = _Segment(cells, dimension, value, codes, code, now, [])
    ratio = cells.count_ratio or cells.layer.is_volume
    if "history" in options.references and periods.baseline:
        by_period = table.baseline(code)
        baseline = _pool(by_period)
        phi = dispersion(by_period, count_ratio=ratio)
        comparison = compare_to_reference(now, baseline, phi, count_ratio=ratio)
        if comparison is not None:
            detail = f"in the {periods.describe(periods.baseline)} before"
            seg.tests.append(_Test("history", comparison, phi, detail, baseline=baseline))
    if cells.layer.is_volume:
        return seg
    if peers is not None:
        pooled_n, pooled_k, phis, counts = peers
        others = int(counts[code])
        if others > 0 and pooled_n[code] > 0:
            pooled = Proportion(float(pooled_n[code]), float(pooled_k[code]))
            phi = float(phis[code])
            comparison = compare_to_reference(now, pooled, phi, count_ratio=cells.count_ratio)
            if comparison is not None:
                detail = f"on the {others} other {plural(dimension or 'segment', others)}"
                seg.tests.append(_Test("peers", comparison, phi, detail, peers=pooled))
    typical = options.ranges.get(cells.layer.key)
    if "range" in options.references and typical is not None:
        comparison = compare_to_fixed(now, typical.low, 1.0, count_ratio=cells.count_ratio)
        if comparison is not None:
            detail = (
                f"(the low end of the typical {typical.low:.0%}-{typical.high:.0%}; "
                f"{typical.source})"
            )
            seg.tests.append(_Test("range", comparison, 1.0, detail))
    return seg


def _current(cells: LayerCells, mask: BoolArray, periods: Periods) -> Proportion:
    """The segment's current counts; a volume's exposure is the current periods' days."""
    k = float(cells.k[mask].sum())
    if cells.layer.is_volume:
        return Proportion(float(sum(periods.days[p] for p in periods.current)), k)
    return Proportion(float(cells.n[mask].sum()), k)


def _by_period(
    cells: LayerCells, mask: BoolArray, which: tuple[int, ...], periods: Periods
) -> list[Proportion]:
    size = len(periods.labels)
    k = np.bincount(cells.period[mask], weights=cells.k[mask], minlength=size)
    if cells.layer.is_volume:
        return [Proportion(float(periods.days[p]), float(k[p])) for p in which if periods.days[p]]
    n = np.bincount(cells.period[mask], weights=cells.n[mask], minlength=size)
    return [Proportion(float(n[p]), float(k[p])) for p in which if n[p] > 0]


def _pool(groups: list[Proportion]) -> Proportion:
    return Proportion(sum(g.n for g in groups), sum(g.conversions for g in groups))


def _qualifies(test: _Test, options: DiagnoseOptions, p_value: float) -> bool:
    c = test.comparison
    return c.rate < c.reference and c.relative_gap >= options.min_gap and p_value < options.alpha


def _choose(seg: _Segment, data: DiagnosisInput, options: DiagnoseOptions) -> None:
    """Pick the reference that makes this segment's largest qualifying loss."""
    best: tuple[tuple[bool, float], _Test] | None = None
    for test in seg.tests:
        c = test.comparison
        if not (c.rate < c.reference and c.relative_gap >= options.min_gap):
            continue
        if test.p_adjusted >= options.alpha and not options.include_insignificant:
            continue
        key = (test.p_adjusted < options.alpha, seg.current.n * (c.reference - c.rate))
        if best is None or key > best[0]:
            best = (key, test)
    if best is None:
        return
    seg.chosen = best[1]
    c = best[1].comparison
    seg.lost_to = seg.current.n * (c.reference - c.rate)
    per_to = data.yields.final_per_to(seg.cells.layer, seg.dimension, seg.value)
    seg.lost_final = seg.lost_to * per_to


def _still_leaks(
    seg: _Segment, exclude: BoolArray, periods: Periods, options: DiagnoseOptions
) -> bool:
    """Is `seg` without the `exclude` cells still a leak against its chosen reference?"""
    test = seg.chosen
    assert test is not None
    cells = seg.cells
    mask = seg.mask & ~exclude
    now = _current(cells, mask & np.isin(cells.period, periods.current), periods)
    if cells.layer.is_volume and not mask.any():
        return False
    if now.n <= 0:
        return False
    ratio = cells.count_ratio or cells.layer.is_volume
    comparison: RateComparison | None
    if test.reference == "history":
        baseline = _pool(_by_period(cells, mask, periods.baseline, periods))
        comparison = compare_to_reference(now, baseline, test.phi, count_ratio=ratio)
    elif test.reference == "peers":
        assert test.peers is not None
        comparison = compare_to_reference(now, test.peers, test.phi, count_ratio=ratio)
    else:
        comparison = compare_to_fixed(now, test.comparison.reference, 1.0, count_ratio=ratio)
    if comparison is None:
        return False
    probe = _Test(test.reference, comparison, test.phi, "")
    return _qualifies(probe, options, comparison.p_value)


def _significant(seg: _Segment, options: DiagnoseOptions) -> bool:
    return seg.chosen is not None and seg.chosen.p_adjusted < options.alpha


def _explains(b: _Segment, a: _Segment, periods: Periods, options: DiagnoseOptions) -> bool:
    """Segment b explains leak a: they share current cells (a volume: cells of any period, as a
    segment whose volume fell to zero has none now) and a without them is no leak."""
    if a.dimension is not None and a.dimension == b.dimension:
        return False  # two values of one dimension share no cell
    shared = a.mask & b.mask
    if not a.cells.layer.is_volume:
        shared &= np.isin(a.cells.period, periods.current)
    if not shared.any():
        return False
    return not _still_leaks(a, b.mask, periods, options)


def _stands_out(
    a: _Segment,
    b: _Segment,
    periods: Periods,
    options: DiagnoseOptions,
    leaking: BoolArray | None = None,
) -> bool:
    """Inside a larger leak b, is a a leak of its own: significantly below b's other values of
    a's dimension that are not leaks themselves (`leaking`: the cells of a's dimension's other
    candidate leaks)? A campaign far below the others while the whole account misses its range
    is a finding of its own; one keyword of a campaign whose keywords are all low is not."""
    if a.dimension is None or a.cells.layer.is_volume:
        return False
    current = np.isin(a.cells.period, periods.current)
    if not (a.mask & current).any() or (a.mask & current & ~b.mask).any():
        return False  # a is not inside b
    others = b.mask & ~a.mask & current
    if leaking is not None:
        others &= ~leaking
    if not others.any():
        return False
    codes, uniques = _factorize(a.cells.dims[a.dimension][others])
    n = np.bincount(codes, weights=a.cells.n[others], minlength=len(uniques))
    k = np.bincount(codes, weights=a.cells.k[others], minlength=len(uniques))
    siblings = [Proportion(float(n[i]), float(k[i])) for i in range(len(uniques)) if n[i] > 0]
    if not siblings:
        return False
    ratio = a.cells.count_ratio
    comparison = compare_to_reference(
        a.current, _pool(siblings), dispersion(siblings, count_ratio=ratio), count_ratio=ratio
    )
    if comparison is None:
        return False
    return _qualifies(_Test("peers", comparison, 1.0, ""), options, comparison.p_value)


def _localise(
    candidates: list[_Segment], periods: Periods, options: DiagnoseOptions
) -> list[tuple[_Segment, list[_Segment]]]:
    """Split one layer's candidate leaks into roots and the symptoms each root explains."""
    if not candidates:
        return []
    count = len(candidates)
    leaking: dict[str, BoolArray] = {}  # per dimension: values that are outliers themselves
    for seg in candidates:
        if seg.dimension is not None and _is_outlier(seg, options):
            leaking[seg.dimension] = leaking.get(seg.dimension, False) | seg.mask
    explains = [[False] * count for _ in range(count)]
    for a in range(count):
        seg = candidates[a]
        others = None
        if seg.dimension in leaking:
            others = leaking[seg.dimension] & ~seg.mask
        for b in range(count):
            if a != b:
                explains[b][a] = _explains(candidates[b], seg, periods, options)
                if explains[b][a] and _stands_out(seg, candidates[b], periods, options, others):
                    explains[b][a] = False

    def better(b: int, a: int) -> bool:
        if not explains[b][a]:
            return False
        if not explains[a][b]:
            return True
        nb, na = _size(candidates[b]), _size(candidates[a])
        if nb != na:
            return nb < na
        return _order_key(candidates[b]) < _order_key(candidates[a])

    roots = [a for a in range(count) if not any(better(b, a) for b in range(count) if b != a)]
    if not roots:
        roots = [max(range(count), key=lambda i: candidates[i].lost_final)]
    roots = _without_unions(roots, candidates, explains, periods, options)
    root_set = set(roots)
    folded: dict[int, list[_Segment]] = {r: [] for r in roots}
    for a in range(count):
        if a in root_set:
            continue
        owners = [r for r in roots if explains[r][a]]
        if not owners:
            owners = _joint_owners(a, roots, candidates, periods, options)
        if not owners:
            folded[a] = []  # explained by nothing reported: reported itself
            continue
        owner = max(owners, key=lambda r: (candidates[r].lost_final, -_rank(candidates[r])))
        folded[owner].append(candidates[a])
    return [(candidates[r], folded[r]) for r in folded]


def _is_outlier(seg: _Segment, options: DiagnoseOptions) -> bool:
    """A leak against its own history or its peers (not only below a typical range)."""
    return any(
        t.reference in ("history", "peers") and _qualifies(t, options, t.p_adjusted)
        for t in seg.tests
    )


def _joint_owners(
    a: int, roots: list[int], candidates: list[_Segment], periods: Periods, options: DiagnoseOptions
) -> list[int]:
    """The roots overlapping candidate a, when together they explain it (a device's drop made of
    two broken campaigns); [] otherwise."""
    current = np.isin(candidates[a].cells.period, periods.current)
    seg = candidates[a]
    overlapping = [r for r in roots if (candidates[r].mask & seg.mask & current).any()]
    if len(overlapping) < 2:
        return []
    union = np.zeros(len(current), dtype=bool)
    for r in overlapping:
        union |= candidates[r].mask
    return [] if _still_leaks(seg, union, periods, options) else overlapping


def _without_unions(
    roots: list[int],
    candidates: list[_Segment],
    explains: list[list[bool]],
    periods: Periods,
    options: DiagnoseOptions,
) -> list[int]:
    """A root that two or more narrower roots overlapping it explain together (the whole
    account, or each device, when two campaigns broke) becomes a symptom of the one of them that
    loses the most. What is left of it without them must have data and be no leak: a root they
    merely cover (a weak rep whose inquiries span every campaign) stays."""
    current = np.isin(candidates[0].cells.period, periods.current)
    kept = list(roots)
    for r in sorted(roots, key=lambda i: -_size(candidates[i])):
        outer = candidates[r].mask & current
        inner = [
            q
            for q in kept
            if q != r
            and _size(candidates[q]) < _size(candidates[r])
            and (candidates[q].mask & outer).any()
        ]
        if len(inner) < 2:
            continue
        union = np.zeros(len(current), dtype=bool)
        for q in inner:
            union |= candidates[q].mask
        rest = outer & ~union
        cells = candidates[r].cells
        if not (cells.k[rest].sum() > 0 if cells.layer.is_volume else cells.n[rest].sum() > 0):
            continue  # nothing of it is left outside them: they cover it, not explain it
        if not _still_leaks(candidates[r], union, periods, options):
            kept.remove(r)
            owner = max(inner, key=lambda q: candidates[q].lost_final)
            explains[owner][r] = True
    return kept


def _size(seg: _Segment) -> float:
    """How much of the layer a segment covers: its from-count, or a volume's count."""
    return seg.current.conversions if seg.cells.layer.is_volume else seg.current.n


def advice_key(layer: str, knowledge: KnowledgeBase) -> str:
    """The knowledge base entry of a layer: its own key, or for an event funnel's step the
    stage whose template event it is (``deal_won`` -> ``won``), else the key itself."""
    if layer in knowledge.layers:
        return layer
    from funnelscope.model.templates import TEMPLATES

    for template in TEMPLATES.values():
        for stage, event in zip(template.stage_keys, template.event_names, strict=True):
            if event == layer.split("#")[0] and stage in knowledge.layers:
                return stage
    return layer


def _rank(seg: _Segment) -> int:
    return 0 if seg.dimension is None else 1


def _order_key(seg: _Segment) -> tuple[str, str]:
    return (seg.dimension or "", seg.value or "")


def _context(seg: _Segment, sizes: dict[str, int]) -> dict[str, str]:
    """Coarser dimensions (fewer values) with one value over all of the segment's cells."""
    if seg.dimension is None:
        return {}
    out: dict[str, str] = {}
    for dimension, values in seg.cells.dims.items():
        if dimension == seg.dimension or sizes[dimension] >= sizes[seg.dimension]:
            continue
        inside = np.unique(values[seg.mask].astype(str))
        if len(inside) == 1:
            out[dimension] = str(inside[0]) or NOT_SET
    return out


def _leak(
    seg: _Segment,
    symptoms: list[_Segment],
    data: DiagnosisInput,
    knowledge: KnowledgeBase,
    options: DiagnoseOptions,
    sizes: dict[str, int],
) -> Leak:
    test = seg.chosen
    assert test is not None
    layer = seg.cells.layer
    c = test.comparison
    revenue = data.yields.revenue_per_final(seg.dimension, seg.value)
    causes: list[str] = []
    actions: list[str] = []
    references = [test.reference] + [
        t.reference for t in seg.tests if t is not test and _qualifies(t, options, t.p_adjusted)
    ]
    for reference in references:  # what every significant comparison suggests, chosen first
        more_causes, more_actions = knowledge.advice(
            advice_key(layer.key, knowledge), seg.dimension, reference
        )
        causes += [c for c in more_causes if c not in causes]
        actions += [a for a in more_actions if a not in actions]
    comparisons = tuple(
        Comparison(
            t.reference,
            t.comparison.rate,
            t.comparison.reference,
            t.p_adjusted,
            t.p_adjusted < options.alpha,
            t.detail,
            t.phi,
        )
        for t in seg.tests
    )
    interval = None if layer.is_volume else wilson_interval(seg.current)
    leak = Leak(
        layer=layer.key,
        from_stage=layer.from_stage,
        segment=seg.label,
        context=_context(seg, sizes),
        rate=c.rate,
        reference_rate=c.reference,
        reference=test.reference,
        significant=test.p_adjusted < options.alpha,
        p_value=test.p_adjusted,
        from_count=seg.current.n,
        to_count=seg.current.conversions,
        rate_interval=interval,
        lost_to=seg.lost_to,
        lost_final=seg.lost_final,
        lost_revenue=None if revenue is None else seg.lost_final * revenue,
        comparisons=comparisons,
        symptoms=tuple(
            {
                "segment": s.label,
                "reference": s.chosen.reference if s.chosen else None,
                "lost_final": s.lost_final,
            }
            for s in sorted(symptoms, key=lambda s: -s.lost_final)
        ),
        causes=tuple(causes),
        actions=tuple(actions),
        evidence="",
    )
    return _with_evidence(leak, data, knowledge, test.detail)


def _with_evidence(leak: Leak, data: DiagnosisInput, knowledge: KnowledgeBase, detail: str) -> Leak:
    return replace(leak, evidence=evidence_text(leak, data, knowledge, detail))


def rate_name(
    knowledge: KnowledgeBase, layer: str, labels: Mapping[str, str], from_stage: str | None
) -> str:
    """The rate's name in words: the knowledge base's (arrival rate) or 'visits per click'."""
    entry = knowledge.layers.get(layer)
    if entry is not None and entry.rate:
        return entry.rate
    to = labels.get(layer, layer).lower()
    if from_stage is None:
        return f"{to} per day"
    return f"{to} per {labels.get(from_stage, from_stage).lower()}"


def evidence_text(leak: Leak, data: DiagnosisInput, knowledge: KnowledgeBase, detail: str) -> str:
    """One sentence with the numbers that triggered the leak."""
    labels = data.stage_labels
    name = rate_name(knowledge, leak.layer, labels, leak.from_stage)
    window = data.periods.describe(data.periods.current)
    to_label = labels.get(leak.layer, leak.layer).lower()
    final = data.final_label.lower()
    if leak.from_stage is None and data.unit is not None:
        numbers = (
            f"In the last {window}: {leak.rate:,.1f} {data.unit}/day entered at "
            f"{labels.get(leak.layer, leak.layer)!r} ({leak.to_count:,.0f} in all) vs "
            f"{leak.reference_rate:,.1f}/day {detail}"
        )
    elif leak.from_stage is None:
        numbers = (
            f"In the last {window}: {to_label} {leak.rate:,.0f}/day ({leak.to_count:,.0f} in "
            f"all) vs {leak.reference_rate:,.0f}/day {detail}"
        )
    elif data.unit is not None:  # an event funnel counts persons (or attempts)
        from_label = labels.get(leak.from_stage, leak.from_stage)
        numbers = (
            f"In the last {window}: {_pct(leak.rate)} of {leak.from_count:,.0f} {data.unit} at "
            f"{from_label!r} went on to {labels.get(leak.layer, leak.layer)!r} "
            f"({leak.to_count:,.0f}) vs {_pct(leak.reference_rate)} {detail}"
        )
    else:
        from_label = labels.get(leak.from_stage, leak.from_stage).lower()
        numbers = (
            f"In the last {window}: {name} {_pct(leak.rate)} ({leak.to_count:,.0f} {to_label} "
            f"of {leak.from_count:,.0f} {from_label}) vs {_pct(leak.reference_rate)} {detail}"
        )
    final = final if data.unit is None else f"{data.final_label!r} conversions"
    cost = f"about {leak.lost_final:,.1f} {final} lost"
    if leak.lost_revenue is not None:
        cost += f" ({leak.lost_revenue:,.0f} revenue)"
    return f"{numbers}. That is {cost}."


def plural(dimension: str, count: int) -> str:
    """'keyword' -> 'keywords', 'ad_group' -> 'ad groups' (a dimension name as a noun)."""
    noun = dimension.replace("_", " ")
    if count == 1:
        return noun
    if noun.endswith(("s", "x", "ch", "sh")):
        return noun + "es"
    if noun.endswith("y") and noun[-2:-1] not in "aeiou":
        return noun[:-1] + "ies"
    return noun + "s"


def _pct(rate: float) -> str:
    return f"{rate * 100:.2f}%" if rate < 0.1 else f"{rate * 100:.1f}%"
