"""Synthetic demo data with known true rates, and ready funnel spec files."""

from funnelscope.demo.shop import DemoShop, generate_shop
from funnelscope.demo.specs import write_template_specs

__all__ = ["DemoShop", "generate_shop", "write_template_specs"]
