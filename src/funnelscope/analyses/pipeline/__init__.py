"""The sales pipeline's analyses, pure functions over :class:`funnelscope.model.deals.CrmData`:
each deal's path through its stages (``journeys.py``), the stage funnel (``stage_funnel.py``),
follow-ups, targets, forecast, velocity and lead scoring. Nothing here reads files or prints."""
