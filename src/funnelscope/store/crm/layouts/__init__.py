"""CRM export layouts, tried in this order: each CRM's own exports are recognised by their column
names; the generic layout comes last."""

from __future__ import annotations

from funnelscope.store.crm.generic import GenericLayout
from funnelscope.store.crm.layouts.hubspot import HubSpotLayout
from funnelscope.store.crm.layouts.odoo import OdooLayout
from funnelscope.store.crm.layouts.pipedrive import PipedriveLayout
from funnelscope.store.crm.layouts.salesforce import SalesforceLayout
from funnelscope.store.crm.records import Layout

LAYOUTS: tuple[Layout, ...] = (
    HubSpotLayout(),
    SalesforceLayout(),
    PipedriveLayout(),
    OdooLayout(),
    GenericLayout(),
)
