"""Follow a folder's change feed while our own creates land in it, so the read past them is mostly
done by the time the last create settles.

After a cycle creates items in an Outlook folder, the folder's token must move past them
(engine._read_past_own_creates): otherwise an item created now and deleted by the user before the
next read would never be reported. For a first sync of thousands of contacts that read is a chain of
SyncFolderItems pages, each waiting for the one before it, which used to start only after the last
create. `EchoFollower` reads that chain on its own thread while the creates are still being made,
a round of pages each time enough new items have been settled to fill whole pages, and a last
round when the engine says the writing is over.

It only reads. The token it reaches and the changes it saw are handed to the engine thread, which
decides what each change is (the echo of our own write, judged against the journal once every
write has settled) and writes the staged rows with the token in one place: the journal keeps one
writer, and a crash or cancel before then leaves the old token, so the next run simply reads again.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Callable

from app.domain.records import Kind
from app.sync.prefetch import close_feed

# A round reads about four SyncFolderItems pages of 512 ids, so the follower adds about one partly
# filled page per round to the requests of reading afterwards (EngineConfig.follow_round_items).
ROUND_ITEMS = 4 * 512
STOP_WAIT = 2.0  # seconds a stopping engine waits for the follower's read in hand


@dataclass
class FollowedFeed:
    """What the follower read: the token it reached and every change since the starting token,
    netted per item (a later change replaces an earlier one; a deletion wins)."""

    token: str | None
    versions: dict[str, str] = field(default_factory=dict)  # item id -> latest ChangeKey seen
    deleted: set[str] = field(default_factory=set)
    pages: int = 0
    rounds: int = 0

    def note_version(self, item_id: str, change_key: str) -> bool:
        if item_id not in self.deleted:
            self.versions[item_id] = change_key
        return True  # as MailboxPort `known`: not read now; the engine thread judges it later

    def note_page(self, page: Any) -> None:
        for ch in page.changes:  # adapters whose pages carry items (Graph delta) report them here
            if ch.op == "delete":
                self.deleted.add(ch.item_id)
                self.versions.pop(ch.item_id, None)
            elif ch.item is not None:
                self.note_version(ch.item_id, ch.item.change_key or "")
        self.token = page.token
        self.pages += 1


class EchoFollower:
    """Reads `mailbox.changes(kind, token)` in rounds on a daemon thread.

    `settled()` is how many of our creates in this folder have settled so far (read from the
    engine thread's tally; an int read is atomic). A round starts once that count is a round's
    worth of pages ahead of the changes already read, and the last round when `finish()` is called.
    `finish()` returns the feed read, or None when the follower could not complete it (a refused
    token, an error, a cancel): the caller then reads from the journal's token as before."""

    def __init__(self, mailbox: Any, kind: Kind, token: str | None, settled: Callable[[], int], *,
                 round_items: int = ROUND_ITEMS, poll_seconds: float = 0.05):
        self.mailbox = mailbox
        self.kind = kind
        self.feed = FollowedFeed(token)
        self._settled = settled
        self._round_items = round_items
        self._poll = poll_seconds
        self._final = threading.Event()
        self._stop = threading.Event()
        self._failed: BaseException | None = None
        self._seen = 0
        self._thread = threading.Thread(target=self._run, name=f"outlook-{kind.value}-follower", daemon=True)

    def start(self) -> "EchoFollower":
        self._thread.start()
        return self

    def finish(self) -> FollowedFeed | None:
        """Read the last round (the writing is over) and hand over what was read."""
        self._final.set()
        self._thread.join()
        if self._failed is not None or self._stop.is_set():
            return None
        return self.feed

    def stop(self) -> None:
        """Give up (cancel, an error elsewhere): stop after the page in hand; nothing is handed over.
        Waits only briefly: a read stuck on a dropped connection must not hold up the error the
        engine is reporting; the thread writes nothing and ends with that read."""
        self._stop.set()
        self._final.set()
        if self._thread.ident is not None:
            self._thread.join(STOP_WAIT)

    # --- the follower thread -------------------------------------------------------------------

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                final = self._final.wait(self._poll)
                if not final and self._settled() - self._seen < self._round_items:
                    continue
                self._round()
                if final:
                    return
        except BaseException as exc:  # noqa: BLE001 - the engine falls back to reading afterwards
            self._failed = exc

    def _round(self) -> None:
        feed = self.feed
        pages = self.mailbox.changes(self.kind, feed.token, known=feed.note_version)
        try:
            for page in pages:
                feed.note_page(page)
                if page.done or self._stop.is_set():
                    break
        finally:
            close_feed(pages)
        feed.rounds += 1
        self._seen = len(feed.versions) + len(feed.deleted)
