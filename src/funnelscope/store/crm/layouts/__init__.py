"""CRM export layouts, tried in this order; the generic layout comes last."""

from __future__ import annotations

from funnelscope.store.crm.generic import GenericLayout
from funnelscope.store.crm.records import Layout

LAYOUTS: tuple[Layout, ...] = (GenericLayout(),)
