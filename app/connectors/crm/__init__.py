"""Workbooks CRM connector (shared/docs/workbooks-api.md, design.md section 2).

Public API:

* `WorkbooksClient(base_url, *, api_key=None, username=None, password=None, database_id=None,
  ca_bundle=None, verify=True, timeout=30.0, application_name=..., user_agent=..., max_retries=5,
  backoff=0.2, max_backoff=8.0, max_redirects=5, max_in_flight=5)`: the httpx client
  (`read`, `write`, `login`, `login_info`, `logout`, `close`, `requests_sent`).
* `CrmStore(client, *, filters=None, extra_columns=None, page_size=100)`: the `CrmPort`
  implementation the sync engine drives (plus `my_queues`, `metadata`, `check_prerequisites`).

Modules: client (transport, auth, retries), query (filters, columns, keyset paging), mapping
(rows <-> canonical fields), batch (square-array writes, per-object results), store (CrmPort),
emails (the one adapter for email records and links), errors (translation to app.errors).
"""
from app.connectors.crm.client import WorkbooksClient
from app.connectors.crm.store import CrmStore

__all__ = ["WorkbooksClient", "CrmStore"]
