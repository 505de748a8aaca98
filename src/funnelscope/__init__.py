"""funnelscope: exact sales and marketing funnels."""
