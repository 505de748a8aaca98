"""The demo CRM as one use case: written with its planted truths, loaded, and the pipeline report,
the follow-up list and the target gap computed as of the demo's fixed "today"."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from funnelscope.analyses.pipeline.followups import FollowupsResult
from funnelscope.analyses.pipeline.targets import TargetsResult
from funnelscope.app.pipeline.data import PipelineLoad, load_pipeline_files
from funnelscope.app.pipeline.followups import pipeline_followups
from funnelscope.app.pipeline.funnel import PipelineFunnel, pipeline_funnel
from funnelscope.app.pipeline.targets import pipeline_targets
from funnelscope.demo.crm import CrmDemoFiles, write_crm_demo

CALL_LIST = 8  # deals shown on the demo's call-today list


@dataclass(frozen=True)
class CrmDemoRun:
    files: CrmDemoFiles
    load: PipelineLoad
    by_owner: PipelineFunnel
    by_source: PipelineFunnel
    followups: FollowupsResult
    targets: TargetsResult

    @property
    def as_of_text(self) -> str:
        return self.files.as_of.strftime("%Y-%m-%dT%H:%M")


def run_crm_demo(db_path: str, directory: str | Path, seed: int = 7) -> CrmDemoRun:
    """Write the demo CRM under ``directory``/demo-data/crm, load it into ``db_path`` and compute
    the funnel by owner and by source, the call-today list and the targets."""
    files = write_crm_demo(Path(directory) / "demo-data" / "crm", seed=seed)
    loaded = load_pipeline_files([files.deals, files.history, files.activities], db_path)
    settings = str(files.settings)
    as_of = files.as_of
    by_owner = pipeline_funnel(db_path, settings_path=settings, as_of=as_of, by="owner")
    by_source = pipeline_funnel(db_path, settings_path=settings, as_of=as_of, by="source")
    moment = as_of.isoformat()
    calls = pipeline_followups(db_path, settings_path=settings, as_of=moment, limit=CALL_LIST)
    targets = pipeline_targets(db_path, settings_path=settings, as_of=moment)
    return CrmDemoRun(files, loaded, by_owner, by_source, calls, targets)
