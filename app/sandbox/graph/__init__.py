"""Graph sandbox: a loopback Microsoft Graph v1.0 server (plus a fake identity platform for the
device-code flow) for tests and demo mode. Standard library only; never imports httpx or msal.

    server, graph = start_graph_sandbox(people=50, seed=1)          # tls=True for msal
    graph.graph_url        # base for API calls, e.g. http://127.0.0.1:PORT/v1.0
    graph.authority        # msal authority, e.g. https://127.0.0.1:PORT/sandbox.onmicrosoft.com
    graph.client_id, graph.tenant, graph.token_url, graph.mailbox
    token = graph.mint_token()   # a valid bearer token for tests
    server.stop()
"""
from .sandbox import DEFAULT_CLIENT_ID, DEFAULT_TENANT, GraphSandbox, start_graph_sandbox

__all__ = ["DEFAULT_CLIENT_ID", "DEFAULT_TENANT", "GraphSandbox", "start_graph_sandbox"]
