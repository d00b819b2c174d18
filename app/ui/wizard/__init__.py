"""The first-run wizard (design.md §9, R33-R37): one module per page, nothing saved until the
confirmation on the first-sync page."""
from app.ui.wizard.wizard import PageId, SetupWizard

__all__ = ["SetupWizard", "PageId"]
