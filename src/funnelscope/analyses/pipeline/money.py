"""Deal amounts in one report currency, never summed blindly.

The report currency is the settings' ``currency``; without one, the currency most deals are
written in (ties: the first in alphabetical order). A deal in the report currency, or with no
currency written, is taken as it is; a deal in another currency is multiplied by the settings'
rate for it (``rates: {USD: 0.92}``: 1 USD = 0.92 in the report currency). A deal in a currency
with no rate is *not converted*: the analyses list it and leave it out of every sum."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from funnelscope.model.deals import Deal
from funnelscope.model.pipeline_settings import PipelineSettings

CONVERTED = "converted"
NO_AMOUNT = "no amount"
NO_RATE = "no rate"


@dataclass(frozen=True)
class Money:
    currency: str | None
    rates: tuple[tuple[str, float], ...] = ()

    def rate(self, currency: str | None) -> float | None:
        """What one unit of ``currency`` is worth in the report currency (None: no rate)."""
        if currency is None or self.currency is None or currency == self.currency:
            return 1.0
        return dict(self.rates).get(currency)

    def convert(self, deal: Deal) -> tuple[float | None, str]:
        """The deal's amount in the report currency and how it was had: ``converted``,
        ``no amount`` (the export gives none) or ``no rate`` (its currency has no rate)."""
        if deal.amount is None:
            return None, NO_AMOUNT
        rate = self.rate(deal.currency)
        if rate is None:
            return None, NO_RATE
        return deal.amount * rate, CONVERTED


def money_for(settings: PipelineSettings, deals: Iterable[Deal]) -> Money:
    """The report currency of ``settings``, else the deals' most common currency."""
    currency = settings.currency
    if currency is None:
        counts = Counter(d.currency for d in deals if d.currency is not None)
        if counts:
            top = max(counts.values())
            currency = min(c for c, n in counts.items() if n == top)
    return Money(currency, settings.rates)
