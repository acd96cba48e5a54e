"""The search facts of every call in memory, for the web processes: counts and pages in ~1 ms.

A search page shows one page of calls and, beside each filter, how many calls each choice
would give. In SQL that is 8–10 queries over the matching calls (~150 ms at 100,000 calls, most
of a request). Here every call's filter and sort facts (status, dates, area, amount, 任意団体,
costs, fields, kinds of source) are numpy arrays, one position per call; a search is a boolean
mask per condition, a facet count is a count over the other conditions' masks, and a page is
the first set positions of a precomputed sort order.

Keywords still come from the database's own indexes (FTS5 / pg_trgm / the GIN index of short
grams): the first search for a word reads its matching ids once; the set is then kept up to date
from the text of the calls that change (the same rules: see `keyword_matches`).

Freshness: migration 0008's triggers write every change of `calls`, `call_fields` and `listings`
to the journal `call_changes`, whatever process made it. Each search first reads the journal's
new rows (one indexed query) and reloads just those calls, so a search never shows data older
than the last commit before it. PostgreSQL numbers journal rows from a sequence, so a
transaction may commit after a later-numbered one: there the journal is read by transaction id
from the oldest transaction still running at the last read (`_poll_postgresql`).

Only what `aggregator.search.conditions` can ask is answered; anything else (a journal missing,
more than 64 distinct field names) raises `Unsupported`, and the caller uses SQL.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import numpy as np
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.orm import Session

from aggregator.searchtext import SHORT_GRAM_CHARS, fold
from aggregator.sources import SOURCE_KIND_LABELS, SOURCES, SourceKind

log = logging.getLogger(__name__)

STATUS_CODES = {None: 0, "upcoming": 1, "open": 2, "closed": 3}
EFFECTIVE = ("open", "upcoming", "closed")  # codes 0, 1, 2 of `effective_status`
COSTS = ("personnel", "honoraria", "rent")
KIND_BITS = {kind: 1 << i for i, kind in enumerate(SourceKind)}
KIND_OF_SOURCE = {name: KIND_BITS[source.kind] for name, source in SOURCES.items()}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# A change touching more calls than this share is applied by reloading everything (faster).
RELOAD_SHARE = 0.2
# A process that has not read the journal for this long reloads everything: the journal keeps
# a day (`prune_journal`), and a reload is cheaper than a long catch-up.
IDLE_RELOAD_SECONDS = 6 * 3600
JOURNAL_DAYS = 1
KEYWORDS_KEPT = 512  # words whose matching calls are kept (least recently used go first)
KEYWORD_SECONDS = 600.0  # a kept word is read from the database again after this long
_CHUNK = 500


class Unsupported(Exception):
    """The index cannot answer this search; the caller runs it in SQL."""


class Loading(Unsupported):
    """The index is being loaded (in the background, at start): SQL meanwhile."""


def keyword_matches(term: str, search_text: str) -> bool:
    """Whether a call whose folded search text is `search_text` matches the folded `term`.

    The database's rules: 1–2 letters or digits are looked up among the characters and pairs
    of the words of the text's head (SQLite calls_grams, PostgreSQL's grams array); anything
    else is a substring of the whole text (trigram index, LIKE / ILIKE on folded text).
    """
    if len(term) < 3 and term.isalnum():
        return term in search_text[:SHORT_GRAM_CHARS]
    return term in search_text


def _ordinal(value: date | str | None) -> int:
    if value is None:
        return 0
    if isinstance(value, str):
        value = date.fromisoformat(value[:10])
    return value.toordinal()


def _micros(value: datetime | str | None) -> int:
    if value is None:
        return 0
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return (value - _EPOCH) // _MICROSECOND


_MICROSECOND = datetime(1970, 1, 1, 0, 0, 0, 1, tzinfo=UTC) - _EPOCH

_COLUMNS = (
    "id, status, deadline, deadline_kind, application_start, area, max_amount_yen, "
    "informal_groups_ok, first_seen, cost_personnel, cost_honoraria, cost_rent"
)


@dataclass
class _Keyword:
    mask: np.ndarray
    read_at: float


@dataclass
class _Arrays:
    """One entry per position; positions of deleted calls stay, with `alive` False."""

    ids: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    alive: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    status: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int8))
    fixed: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    has_deadline: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    deadline: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    has_start: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    start: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    area: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    has_amount: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    amount: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    informal: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int8))  # -1 NULL
    first_seen: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    costs: np.ndarray = field(default_factory=lambda: np.zeros((0, len(COSTS)), bool))
    fields: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint64))
    kinds: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint8))

    def resize(self, size: int) -> None:
        for name, arr in vars(self).items():
            grown = np.zeros((size, *arr.shape[1:]), arr.dtype)
            grown[: len(arr)] = arr[:size]
            setattr(self, name, grown)


class SearchIndex:
    """One per web process and database (see `api.app`); thread-safe.

    It reads through its own connection (`engine`, used by one thread at a time), never a
    request's: so it only ever sees committed data, and a request holding a pooled connection
    never waits for a second one.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._lock = threading.RLock()
        self._loaded = False
        self._a = _Arrays()
        self._n = 0  # positions in use
        self._pos: dict[int, int] = {}
        self._sorted_ids = np.zeros(0, np.int64)
        self._sorted_pos = np.zeros(0, np.int64)
        self._areas: dict[str, int] = {}
        self._field_bits: dict[str, int] = {}
        self._orders: dict[str, np.ndarray] = {}
        self._effective: tuple[int, np.ndarray] | None = None
        self._keywords: OrderedDict[str, _Keyword] = OrderedDict()
        self._last_seq = 0  # SQLite: the last journal row applied
        self._watermark = 0  # PostgreSQL: no transaction older than this can still add rows
        self._applied: set[int] = set()  # PostgreSQL: journal rows at or above the watermark
        self._polled = 0.0
        self.reloads = 0
        self.changes_applied = 0
        self._version = 0  # changes applied (or reloads) so far

    @classmethod
    def for_url(cls, url: str) -> SearchIndex | None:
        """An index of the database at `url` on its own one-connection engine; None for an
        in-memory SQLite database (another connection would be another database)."""
        from aggregator.storage.db import make_engine

        parsed = make_url(url)
        if parsed.get_backend_name() == "sqlite" and parsed.database in (None, "", ":memory:"):
            return None
        # One connection for the locked part, a few for words read outside the lock.
        return cls(make_engine(url, pool_size=1, max_overflow=4))

    @property
    def ready(self) -> bool:
        """Loaded: searches are answered from memory."""
        return self._loaded

    def warm_up(self) -> threading.Thread:
        """Load in a background thread; until then searches use SQL (`ready`)."""

        def load() -> None:
            try:
                self.refresh()
            except Exception:
                log.warning("search index: loading failed; searching in SQL", exc_info=True)

        thread = threading.Thread(target=load, name="search-index", daemon=True)
        thread.start()
        return thread

    def dispose(self) -> None:
        self._engine.dispose()

    # -- keeping up with the database -----------------------------------------------------

    def refresh(self) -> None:
        """Apply what the journal says changed since the last call (or load everything)."""
        with self._lock, self._engine.connect() as conn:
            self._refresh(conn)

    def _refresh(self, conn: Connection) -> None:
        with self._lock:
            dialect = conn.dialect.name
            if not self._loaded or time.monotonic() - self._polled > IDLE_RELOAD_SECONDS:
                self._reload(conn, dialect)
            else:
                poll = self._poll_postgresql if dialect == "postgresql" else self._poll_sqlite
                changed = poll(conn)
                if changed:
                    if len(changed) > max(1000, RELOAD_SHARE * len(self._pos)):
                        self._reload(conn, dialect)
                    else:
                        self._apply(conn, changed)
            self._polled = time.monotonic()

    def _poll_sqlite(self, conn: Connection) -> set[int]:
        rows = conn.execute(
            text("SELECT seq, call_id FROM call_changes WHERE seq > :last ORDER BY seq"),
            {"last": self._last_seq},
        ).all()
        if rows:
            self._last_seq = rows[-1][0]
        return {call_id for _, call_id in rows}

    def _poll_postgresql(self, conn: Connection) -> set[int]:
        # One statement, one snapshot: rows not visible in it belong to transactions running
        # at it, whose ids are at least the snapshot's xmin; the next read starts there.
        rows = conn.execute(
            text(
                "WITH s AS (SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS xmin)"
                " SELECT s.xmin, c.seq, c.call_id, c.xid FROM s"
                " LEFT JOIN call_changes c ON c.xid >= :watermark"
            ),
            {"watermark": self._watermark},
        ).all()
        xmin = rows[0][0]
        fresh = [row for row in rows if row[1] is not None and row[1] not in self._applied]
        changed = {call_id for _, _, call_id, _ in fresh}
        self._applied = {seq for _, seq, _, xid in rows if seq is not None and xid >= xmin}
        self._watermark = xmin
        return changed

    def _journal_start(self, conn: Connection, dialect: str) -> None:
        """Before a full load: where the journal will be read from next (changes made while
        loading are read again, which is harmless)."""
        if dialect == "postgresql":
            self._watermark = conn.execute(
                text("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint")
            ).scalar_one()
            self._applied = set()
        else:
            self._last_seq = conn.execute(
                text("SELECT coalesce(max(seq), 0) FROM call_changes")
            ).scalar_one()

    def _reload(self, conn: Connection, dialect: str) -> None:
        started = time.perf_counter()
        try:
            self._journal_start(conn, dialect)
        except Exception as exc:  # no journal: a database not upgraded to 0008
            raise Unsupported(f"no call_changes journal: {exc}") from exc
        rows = conn.execute(text(f"SELECT {_COLUMNS} FROM calls ORDER BY id")).all()
        self._a = _Arrays()
        self._a.resize(max(1024, len(rows) + len(rows) // 4))
        self._n = 0
        self._pos = {}
        self._areas = {}
        self._field_bits = {}
        self._keywords.clear()
        self._store_rows(rows)
        self._store_fields(conn.execute(text("SELECT call_id, field FROM call_fields")), None)
        self._store_kinds(conn.execute(text("SELECT DISTINCT call_id, source FROM listings")), None)
        self._after_change()
        self._loaded = True
        self.reloads += 1
        self._version += 1
        log.info(
            "search index: %d calls loaded in %.2f s", len(self._pos), time.perf_counter() - started
        )

    def _apply(self, conn: Connection, changed: set[int]) -> None:
        ids = sorted(changed)
        rows, texts, field_rows, kind_rows = [], {}, [], []
        for i in range(0, len(ids), _CHUNK):
            chunk = ids[i : i + _CHUNK]
            marks = ", ".join(str(int(c)) for c in chunk)
            found = conn.execute(
                text(f"SELECT {_COLUMNS}, search_text FROM calls WHERE id IN ({marks})")
            ).all()
            rows.extend(r[:-1] for r in found)
            texts.update((r[0], r[-1] or "") for r in found)
            field_rows.extend(
                conn.execute(
                    text(f"SELECT call_id, field FROM call_fields WHERE call_id IN ({marks})")
                ).all()
            )
            kind_rows.extend(
                conn.execute(
                    text(
                        f"SELECT DISTINCT call_id, source FROM listings WHERE call_id IN ({marks})"
                    )
                ).all()
            )
        gone = [c for c in ids if c not in texts and c in self._pos]
        for call_id in gone:
            self._a.alive[self._pos[call_id]] = False
        self._store_rows(rows)
        present = [c for c in ids if c in texts]
        self._store_fields(field_rows, present)
        self._store_kinds(kind_rows, present)
        for word, kept in self._keywords.items():
            for call_id in gone:
                kept.mask[self._pos[call_id]] = False
            for call_id, body in texts.items():
                kept.mask[self._pos[call_id]] = keyword_matches(word, body)
        self._after_change()
        self.changes_applied += len(ids)
        self._version += 1

    def _store_rows(self, rows: Iterable[Any]) -> None:
        a = self._a
        for (
            call_id,
            status,
            deadline,
            deadline_kind,
            start,
            area,
            amount,
            informal,
            first_seen,
            *costs,
        ) in rows:
            pos = self._pos.get(call_id)
            if pos is None:
                pos = self._n
                if pos >= len(a.ids):
                    a.resize(2 * len(a.ids))
                    for kept in self._keywords.values():
                        kept.mask = np.concatenate([kept.mask, np.zeros(len(kept.mask), bool)])
                self._pos[call_id] = pos
                self._n += 1
                a.ids[pos] = call_id
            a.alive[pos] = True
            a.status[pos] = STATUS_CODES.get(status, 0)
            a.fixed[pos] = deadline_kind == "fixed"
            a.has_deadline[pos] = deadline is not None
            a.deadline[pos] = _ordinal(deadline)
            a.has_start[pos] = start is not None
            a.start[pos] = _ordinal(start)
            code = self._areas.get(area)
            if code is None:
                code = self._areas[area] = len(self._areas)
            a.area[pos] = code
            a.has_amount[pos] = amount is not None
            a.amount[pos] = amount or 0
            a.informal[pos] = -1 if informal is None else int(bool(informal))
            a.first_seen[pos] = _micros(first_seen)
            a.costs[pos] = [c == "yes" for c in costs]

    def _store_fields(self, rows: Iterable[Any], present: list[int] | None) -> None:
        a = self._a
        if present is not None:
            for call_id in present:
                a.fields[self._pos[call_id]] = 0
        for call_id, name in rows:
            pos = self._pos.get(call_id)
            if pos is None:
                continue  # a field of a call created after the calls were read
            bit = self._field_bits.get(name)
            if bit is None:
                if len(self._field_bits) >= 64:
                    self._loaded = False
                    raise Unsupported("more than 64 distinct fields")
                bit = self._field_bits[name] = 1 << len(self._field_bits)
            a.fields[pos] |= np.uint64(bit)

    def _store_kinds(self, rows: Iterable[Any], present: list[int] | None) -> None:
        a = self._a
        if present is not None:
            for call_id in present:
                a.kinds[self._pos[call_id]] = 0
        for call_id, source in rows:
            pos = self._pos.get(call_id)
            if pos is not None:
                a.kinds[pos] |= KIND_OF_SOURCE.get(source, 0)

    def _after_change(self) -> None:
        n = self._n
        order = np.argsort(self._a.ids[:n], kind="stable")
        self._sorted_ids = self._a.ids[:n][order]
        self._sorted_pos = order
        self._orders = {}
        self._effective = None

    # -- answering -------------------------------------------------------------------------

    def _not_loading(self) -> None:
        if not self._loaded:
            if not self._lock.acquire(blocking=False):
                raise Loading("the search index is loading")
            self._lock.release()

    def _positions(self, ids: np.ndarray) -> np.ndarray:
        at = np.searchsorted(self._sorted_ids, ids)
        at = np.minimum(at, max(len(self._sorted_ids) - 1, 0))
        known = self._sorted_ids[at] == ids if len(self._sorted_ids) else np.zeros(0, bool)
        return self._sorted_pos[at[known]]

    def _kept(self, term: str) -> _Keyword | None:
        kept = self._keywords.get(term)
        if kept is not None and time.monotonic() - kept.read_at < KEYWORD_SECONDS:
            return kept
        return None

    @staticmethod
    def _read_ids(conn: Connection, term: str) -> np.ndarray:
        """Ids of the calls matching `term`, through the database's own index."""
        from aggregator.search import keyword_ids_query

        dialect = conn.dialect.name
        # PostgreSQL, 1–2 characters: through the GIN index of grams, never a table scan
        # (see search._gram_index_only).
        short = dialect == "postgresql" and len(term) < 3 and term.isalnum()
        if short:
            conn.execute(text("SET LOCAL enable_seqscan TO off"))
        ids = np.fromiter((i for (i,) in conn.execute(*keyword_ids_query(term, dialect))), np.int64)
        if short:
            conn.execute(text("SET LOCAL enable_seqscan TO DEFAULT"))
        return ids

    def _keep(self, term: str, ids: np.ndarray) -> np.ndarray:
        mask = np.zeros(len(self._a.ids), bool)
        mask[self._positions(ids)] = True
        self._keywords[term] = _Keyword(mask, time.monotonic())
        self._keywords.move_to_end(term)
        while len(self._keywords) > KEYWORDS_KEPT:
            self._keywords.popitem(last=False)
        return mask

    def _keyword(self, conn: Connection, term: str) -> np.ndarray:
        kept = self._kept(term)
        if kept is not None:
            self._keywords.move_to_end(term)
            return kept.mask[: self._n]
        return self._keep(term, self._read_ids(conn, term))[: self._n]

    def _read_keywords(self, params: Any) -> None:
        """Read the words of `params` not yet kept without holding the lock (a word matching
        most calls takes 30–100 ms on PostgreSQL: other searches go on meanwhile).

        Kept only if no change was applied during the read: the changes applied after it are
        then applied to the word too (`_apply`). Otherwise the word is read again under the
        lock, where nothing can change.
        """
        terms = fold(params.q).split() if params.q else []
        with self._lock:
            missing = [t for t in dict.fromkeys(terms) if self._kept(t) is None]
            version = self._version
        if not missing:
            return
        with self._engine.connect() as conn:
            found = {term: self._read_ids(conn, term) for term in missing}
        with self._lock:
            if self._version == version:
                for term, ids in found.items():
                    self._keep(term, ids)

    def _effective_status(self, today: date) -> np.ndarray:
        """`search.effective_status` for every position: 0 open, 1 upcoming, 2 closed."""
        day = today.toordinal()
        if self._effective and self._effective[0] == day:
            return self._effective[1]
        a, n = self._a, self._n
        passed = self._passed(day)
        started = a.has_start[:n] & (a.start[:n] <= day)
        eff = np.zeros(n, np.int8)
        eff[(a.status[:n] == STATUS_CODES["upcoming"]) & ~started] = 1
        eff[(a.status[:n] == STATUS_CODES["closed"]) | passed] = 2
        self._effective = (day, eff)
        return eff

    def _passed(self, day: int) -> np.ndarray:
        a, n = self._a, self._n
        return a.fixed[:n] & a.has_deadline[:n] & (a.deadline[:n] < day)

    def _masks(self, conn: Connection, params: Any, today: date, home: Any) -> dict[str, Any]:
        """Each condition of `search.conditions` as a mask (None: no condition)."""
        from aggregator.search import StatusFilter

        a, n = self._a, self._n
        day = today.toordinal()
        masks: dict[str, Any] = {}
        rest = a.alive[:n].copy()
        if params.q:
            for term in fold(params.q).split():
                rest &= self._keyword(conn, term)
        if params.field:
            wanted = 0
            for name in params.field:
                wanted |= self._field_bits.get(name, 0)
            masks["field"] = (a.fields[:n] & np.uint64(wanted)) != 0
        if params.area:
            values = home.area_values(params.area) or []
            masks["area"] = self._area_mask(values)[a.area[:n]]
        status = params.status
        if status != StatusFilter.ALL:
            passed = self._passed(day)
            if status == StatusFilter.CLOSED:
                masks["status"] = (a.status[:n] == STATUS_CODES["closed"]) | passed
            elif status == StatusFilter.UPCOMING:
                started = a.has_start[:n] & (a.start[:n] <= day)
                masks["status"] = (a.status[:n] == STATUS_CODES["upcoming"]) & ~started & ~passed
            else:
                masks["status"] = (a.status[:n] == STATUS_CODES["open"]) & ~passed
        before = params.deadline_before
        if params.within:
            limit = date.fromordinal(day + params.within)
            before = min(before, limit) if before else limit
        if before:
            rest &= a.has_deadline[:n] & (a.deadline[:n] <= before.toordinal())
        if params.deadline_after:
            rest &= a.has_deadline[:n] & (a.deadline[:n] >= params.deadline_after.toordinal())
        if params.min_amount is not None:
            rest &= a.has_amount[:n] & (a.amount[:n] >= params.min_amount)
        if params.informal_groups_ok is not None:
            masks["informal"] = a.informal[:n] == int(params.informal_groups_ok)
        for cost in params.cost:
            rest &= a.costs[:n, COSTS.index(cost.value)]
        if params.source_kind:
            masks["source_kind"] = (a.kinds[:n] & KIND_BITS[SourceKind(params.source_kind)]) != 0
        masks["rest"] = rest
        return masks

    def _area_mask(self, values: list[str]) -> np.ndarray:
        """Area code → whether it is one of `values` (index it with the codes)."""
        table = np.zeros(max(len(self._areas), 1), bool)
        table[[self._areas[v] for v in values if v in self._areas]] = True
        return table

    @staticmethod
    def _combine(masks: dict[str, Any], *skip: str) -> np.ndarray:
        out = masks["rest"].copy()
        for name, mask in masks.items():
            if name != "rest" and name not in skip:
                out &= mask
        return out

    def _order(self, sort: str) -> np.ndarray:
        """Positions of live calls in the order of `search._order(sort)`."""
        order = self._orders.get(sort)
        if order is not None:
            return order
        a, n = self._a, self._n
        live = np.flatnonzero(a.alive[:n])
        ids = a.ids[live]
        if sort == "new":
            keys = (-ids, -a.first_seen[live])
        elif sort == "amount":
            keys = (ids, -a.amount[live], ~a.has_amount[live])
        else:
            keys = (ids, a.deadline[live], ~a.has_deadline[live])
        order = self._orders[sort] = live[np.lexsort(keys)]
        return order

    def search(
        self, params: Any, *, today: date, home: Any, refresh: bool = True
    ) -> tuple[int, list[int]]:
        """(total, ids of the page) of `search.search`; `refresh=False` when the journal was
        just read for the same request."""
        self._not_loading()
        self._read_keywords(params)
        with self._lock, self._engine.connect() as conn:
            if refresh or not self._loaded:
                self._refresh(conn)
            mask = self._combine(self._masks(conn, params, today, home))
            total = int(np.count_nonzero(mask))
            order = self._order(str(params.sort.value))
            start = (params.page - 1) * params.per_page
            hits = np.flatnonzero(mask[order])[start : start + params.per_page]
            return total, [int(i) for i in self._a.ids[order[hits]]]

    def facet_counts(
        self, params: Any, *, today: date, home: Any, refresh: bool = True
    ) -> dict[str, dict[str, int]]:
        """`search.facet_counts`, from the masks."""
        self._not_loading()
        self._read_keywords(params)
        with self._lock, self._engine.connect() as conn:
            if refresh or not self._loaded:
                self._refresh(conn)
            a, n = self._a, self._n
            masks = self._masks(conn, params, today, home)
            counts: dict[str, dict[str, int]] = {}

            base = self._combine(masks, "field")
            chosen = a.fields[:n][base]
            by_field = {}
            for name, bit in self._field_bits.items():
                count = int(np.count_nonzero(chosen & np.uint64(bit)))
                if count:
                    by_field[name] = count
            counts["field"] = by_field

            base = self._combine(masks, "status")
            by_status = np.bincount(self._effective_status(today)[base], minlength=3)
            status = {name: int(by_status[i]) for i, name in enumerate(EFFECTIVE)}
            counts["status"] = {
                "open": status["open"],
                "upcoming": status["upcoming"],
                "closed": status["closed"],
                "all": sum(status.values()),
            }

            base = self._combine(masks, "area", "informal")
            areas = a.area[:n][base]
            informal = a.informal[:n][base]
            wanted = params.informal_groups_ok
            keep = areas if wanted is None else areas[informal == int(wanted)]
            per_code = np.bincount(keep, minlength=len(self._areas))
            by_area = {name: int(per_code[code]) for name, code in self._areas.items()}
            chosen_areas = home.area_values(params.area) if params.area else None
            ok = informal == 1
            if params.area is not None:
                ok &= self._area_mask(chosen_areas or [])[areas]
            counts["area"] = {
                key: sum(by_area.get(v, 0) for v in home.area_values(key) or [])
                for key in home.area_choices()
            }

            base = self._combine(masks, "source_kind")
            kinds = a.kinds[:n][base]
            counts["source_kind"] = {
                kind.value: int(np.count_nonzero(kinds & KIND_BITS[kind]))
                for kind in SOURCE_KIND_LABELS
            }
            counts["informal_groups_ok"] = {"true": int(np.count_nonzero(ok))}
            return counts


def prune_journal(session: Session, days: float = JOURNAL_DAYS) -> int:
    """Delete journal rows older than `days` (web processes idle that long reload fully)."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        cutoff = "now() - make_interval(secs => :seconds)"
    else:
        cutoff = "datetime('now', '-' || :seconds || ' seconds')"
    # The newest row stays: on SQLite `seq` is max + 1, which must never go back.
    result = session.execute(
        text(
            f"DELETE FROM call_changes WHERE changed_at < {cutoff} "
            "AND seq < (SELECT max(seq) FROM call_changes)"
        ),
        {"seconds": int(days * 86400)},
    )
    return result.rowcount or 0
