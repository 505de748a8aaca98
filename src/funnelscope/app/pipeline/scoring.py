"""`funnelscope pipeline score`: the chance each open deal is won, with the model checked first
on the latest closed deals against the naive Bayes baseline."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC

import pyarrow as pa

from funnelscope.analyses.pipeline.scoring import LeadScores, score_leads
from funnelscope.app.events import open_store
from funnelscope.app.pipeline.data import as_of_time, read_pipeline, settings_from
from funnelscope.model.deals import Deal
from funnelscope.model.pipeline_settings import PipelineSettings


def score_deals(
    db_path: str,
    *,
    settings_path: str | None = None,
    settings: PipelineSettings | None = None,
    as_of: str | None = None,
    test_share: float = 0.25,
    min_count: int = 5,
    ignore: Sequence[str] = (),
    top: int = 3,
) -> LeadScores:
    settings = settings_from(settings_path, settings)
    moment = as_of_time(as_of)
    data = read_pipeline(db_path, settings)
    events = events_before_creation(db_path, data.deals)
    return score_leads(
        data,
        as_of=moment,
        settings=settings,
        events=events,
        test_share=test_share,
        min_count=min_count,
        ignore=frozenset(ignore),
        top=top,
    )


def events_before_creation(db_path: str, deals: Sequence[Deal]) -> dict[str, dict[str, int]]:
    """Per deal id, how often its person did each event before the deal was created (deals
    without a person id, or whose person has no such events, are absent)."""
    with_person = [d for d in deals if d.person_id]
    if not with_person:
        return {}
    table = pa.table(
        {
            "deal_id": pa.array([d.deal_id for d in with_person], pa.string()),
            "person_id": pa.array([d.person_id for d in with_person], pa.string()),
            "created_at": pa.array(
                [d.created_at.astimezone(UTC).replace(tzinfo=None) for d in with_person],
                pa.timestamp("us"),
            ),
        }
    )
    store = open_store(db_path)
    con = store.connection
    try:
        con.register("_fs_scored_deals", table)
        try:
            rows = con.execute(
                "SELECT d.deal_id, e.event, count(*) FROM _fs_scored_deals d JOIN events e "
                'ON e.person_id = d.person_id AND e."timestamp" < d.created_at '
                "GROUP BY d.deal_id, e.event ORDER BY d.deal_id, e.event"
            ).fetchall()
        finally:
            con.unregister("_fs_scored_deals")
    finally:
        store.close()
    out: dict[str, dict[str, int]] = {}
    for deal_id, event, count in rows:
        out.setdefault(str(deal_id), {})[str(event)] = int(count)
    return out
