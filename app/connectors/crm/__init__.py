"""Workbooks CRM connector: httpx API client (`WorkbooksClient`) and the CrmPort adapter (`CrmStore`)."""
from app.connectors.crm.client import WorkbooksClient
from app.connectors.crm.store import CrmStore

__all__ = ["WorkbooksClient", "CrmStore"]
