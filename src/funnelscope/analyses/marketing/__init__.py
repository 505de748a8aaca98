"""Report-level marketing funnels: joining report sets, rates, diagnosis and what-if.

The report files themselves are read by :mod:`funnelscope.store.reports`; the use cases that
wire reading and analysis together are in :mod:`funnelscope.app.marketing`.
"""
