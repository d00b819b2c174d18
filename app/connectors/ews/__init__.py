"""Mailbox adapter on exchangelib: the only package that imports it (design.md section 2).

    from app.connectors.ews import EwsMailbox, EwsLease, EwsSettings, check_connection
    settings = EwsSettings(endpoint=url, mailbox=addr, username=user, password=pw, auth="ntlm",
                           build="15.1.2507.6", timezone="Europe/London")
    info = check_connection(settings)          # FailFast: identity + build to store
    mailbox = EwsMailbox.connect(settings)     # MailboxPort
    lease = EwsLease.connect(settings)         # LeasePort
"""
from app.connectors.ews.client import ConnectionInfo, EwsSettings, TokenCredentials, check_connection, open_account
from app.connectors.ews.lease import EwsLease
from app.connectors.ews.mailbox import EwsMailbox
from app.connectors.ews.properties import deregister_properties, register_properties

__all__ = [
    "ConnectionInfo", "EwsLease", "EwsMailbox", "EwsSettings", "TokenCredentials", "check_connection",
    "deregister_properties", "open_account", "register_properties",
]
