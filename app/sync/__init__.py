"""The pure sync engine (design.md section 5): standard library, app.domain and app.errors only.

    from app.sync.engine import SyncEngine
    from app.sync.config import EngineConfig, Thresholds
    engine = SyncEngine(crm_port, mailbox_port, journal, EngineConfig(...), clock)
    summary = engine.run_cycle(dry_run=False, allow_mass_delete=False, observer=None, cancel=None)
    summary.as_json()  # the `sync --json` object; summary.holds -> exit 3, summary.errors -> exit 1

Modules: ingest (feeds into staging with their cursors), classify (two-witness side states),
planner (the decision table), merge (three-way), sharing, guards (brake), compose (one kind's plan),
executor (outbox, crash verification), retry (back-off), state (values exchanged with the journal).
"""
