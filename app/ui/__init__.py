"""The Qt front end (design.md §9). Entry point: `app.ui.application.run_app`.

This package's `__init__` imports no Qt, so `app.ui.ports` (Protocols and plain values for the
windows' data sources) stays importable by headless code.
"""
