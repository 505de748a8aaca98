"""The HTML report face: one self-contained HTML file per funnel (`funnelscope report-html`),
with the server's charts and tables, ECharts and the data inlined, so it opens without network."""
