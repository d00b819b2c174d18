"""EWS sandbox: a loopback Exchange Web Services SOAP server for tests and demo mode.

    server, ews = start_ews_sandbox(people=50, seed=1)
    url = server.base_url + ews.endpoint_path   # also ews.url
    ... exchangelib against url with ews.username / ews.password ...
    server.stop()
"""
from .sandbox import ENDPOINT_PATH, EwsSandbox, start_ews_sandbox

__all__ = ["ENDPOINT_PATH", "EwsSandbox", "start_ews_sandbox"]
