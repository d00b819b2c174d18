"""`workbooks-connector demo`: both sandboxes, a throwaway profile configured for them, and the
tray app on it (or one headless sync where there is no display)."""
from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from app import paths as paths_mod
from app import settings as st
from app.sandbox.run import Sandboxes, start_both

KEY_ENV = "WORKBOOKS_CONNECTOR_DEMO_API_KEY"
PASSWORD_ENV = "WORKBOOKS_CONNECTOR_DEMO_EWS_PASSWORD"


def display_available() -> bool:
    if os.environ.get("QT_QPA_PLATFORM", "").startswith(("offscreen", "minimal")):
        return False
    if sys.platform.startswith("linux"):
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return True


def demo_settings(boxes: Sandboxes) -> st.Settings:
    """What `configure` would save for these sandboxes; the secrets stay in this process's
    environment, as they would for a user without a keyring."""
    os.environ[KEY_ENV] = boxes.crm.api_key
    os.environ[PASSWORD_ENV] = boxes.ews.password
    return st.Settings(
        workbooks=st.WorkbooksAccount(url=boxes.workbooks_url, auth="api_key", api_key_env=KEY_ENV,
                                      ca_bundle=str(boxes.tls.cert) if boxes.tls else ""),
        mailbox=st.MailboxAccount(ews_url=boxes.ews_url, address=boxes.ews.mailbox, username=boxes.ews.username,
                                  auth="basic", password_env=PASSWORD_ENV, timezone="Europe/London",
                                  ca_bundle=str(boxes.tls.cert) if boxes.tls else ""),
        sync=st.SyncOptions(schedule="hourly"),  # the app then syncs soon after it starts
        email=st.EmailOptions(capture_days_back=30),  # the seeded sent mail is from last week
    ).validate()


def run(args: Any) -> int:
    from app import wiring
    from app.cli import print_json

    headless = args.headless
    if not headless and not display_available():
        print("workbooks-connector: no display found, so the demo runs one sync headless instead.", file=sys.stderr)
        headless = True
    root = Path(tempfile.mkdtemp(prefix="workbooks-connector-demo-"))
    paths = paths_mod.ProfilePaths(root).ensure()
    boxes = start_both(people=max(0, args.people), seed_value=1)
    try:
        settings = demo_settings(boxes)
        st.save(settings, paths.config)
        if headless:
            summary = wiring.sync_once(paths, settings)
            print_json(summary.as_json())
            return 0
        print(f"Demo sandboxes: Workbooks {boxes.workbooks_url}, EWS {boxes.ews_url}", file=sys.stderr)
        from app.commands import tray

        return tray.launch(paths, settings, demo=True)
    finally:
        boxes.stop()
        shutil.rmtree(root, ignore_errors=True)
