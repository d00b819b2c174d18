"""Mailbox adapter on Microsoft Graph v1.0 (Exchange Online), httpx + msal; the EWS adapter's twin.

    from app.connectors.graph import GraphMailbox, GraphLease, GraphSettings, GraphSignIn, check_connection
    settings = GraphSettings(mailbox=addr, client_id=app_id, tenant="contoso.onmicrosoft.com")
    signin = GraphSignIn.from_settings(settings)        # token cache in the keyring
    flow = signin.start_device_flow(); show(flow.message); signin.finish_device_flow(flow)
    check_connection(settings, signin)                  # the sign-in reaches `addr`
    mailbox = GraphMailbox.connect(settings, signin)    # MailboxPort
    lease = GraphLease.connect(settings, signin)        # LeasePort

Field gaps between the backends: app/connectors/graph/mapping.py (module docstring).
"""
from app.connectors.graph.auth import DeviceFlow, GraphSignIn
from app.connectors.graph.client import GraphClient, StaticToken, TokenProvider
from app.connectors.graph.lease import GraphLease
from app.connectors.graph.mailbox import GraphMailbox, GraphSettings, check_connection

__all__ = ["DeviceFlow", "GraphClient", "GraphLease", "GraphMailbox", "GraphSettings", "GraphSignIn", "StaticToken",
           "TokenProvider", "check_connection"]
