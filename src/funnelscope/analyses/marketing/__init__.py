"""Report-level marketing funnels: sources, rates, diagnosis and what-if."""
