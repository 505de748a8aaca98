"""The sales pipeline in the store: CRM exports loaded (``load.py``, one module per export
layout in ``layouts/``), kept in the ``crm_*`` tables (``tables.py``) and read back as
:class:`funnelscope.model.deals.CrmData` (``read.py``)."""
