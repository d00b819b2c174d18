"""The change journal (SQLModel over SQLite): the only package that imports sqlmodel/sqlalchemy.

    from app.journal.repo import open_journal        # JournalPort for the engine (single writer)
    journal = open_journal(paths.journal)            # creates, migrates, or rebuilds a damaged file
    journal.recovered_from                           # Path of a damaged file moved aside, else None
    journal.resolve_conflict(id, "crm"|"outlook"|"both")   # applied at the next cycle
    journal.decide_hold(id, "apply"|"restore"|"later")
    journal.request_sharing(link_id, kind=..., state="share_requested"|"unshare_requested", ews_item_id=..)
    journal.bind_identity(mailbox_address, crm_database_id)  # ConfigError on a different pair
    journal.close()

    from app.journal import reader                   # read-only snapshots as plain dicts
    db = reader.open_reader(paths.journal)           # or journal.db of an open journal
    reader.status(db); reader.conflicts(db); reader.history(db, limit); reader.explain(db, query)
"""
