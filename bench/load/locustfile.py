"""Locust users for `bench/load`: people searching on `/` and programs calling `/api/v1/calls`.

Run by `python bench/load` (locust 2.x, headless, in its own process). Each user alternates
between the search page and the API with searches drawn like real use: mostly a keyword
(1, 2 or 3+ Japanese characters), often a field or an area, sometimes a status, a sort or a
later page. Every request is checked (HTTP 200 and the expected body) and written, with its
endpoint, kind of keyword and time, to the file named by KYODO_LOAD_RECORD when locust stops,
so that `bench/load` computes exact percentiles itself.

Environment: KYODO_LOAD_THINK (mean seconds a user waits between requests, default 1;
uniform in [0.5, 1.5] × mean; 0 for none), KYODO_LOAD_SEED, KYODO_LOAD_RECORD.
"""

from __future__ import annotations

import json
import os
import random
import sys
import time
from pathlib import Path
from urllib.parse import urlencode

from locust import FastHttpUser, events, task

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from aggregator.fields import FIELD_SLUGS  # a plain dict: no database imports
from bench._keywords import LOAD_ONE as ONE
from bench._keywords import LOAD_THREE as THREE
from bench._keywords import LOAD_TWO as TWO

AREAS = ["national", "prefecture", "municipality", "reachable"]
STATUSES = ["open", "upcoming", "closed", "all"]
SORTS = ["deadline", "new", "amount"]

THINK = float(os.environ.get("KYODO_LOAD_THINK", "1"))
RECORD = os.environ.get("KYODO_LOAD_RECORD")
_rng = random.Random(int(os.environ.get("KYODO_LOAD_SEED", "8")))
_records: list[tuple[str, str, float, float, str | None]] = []


def draw(rng: random.Random) -> tuple[str, dict]:
    """(kind of keyword, query parameters) for one search."""
    params: dict = {}
    roll = rng.random()
    if roll < 0.2:
        kind, params["q"] = "1 char", rng.choice(ONE)
    elif roll < 0.45:
        kind, params["q"] = "2 chars", rng.choice(TWO)
    elif roll < 0.75:
        kind, params["q"] = "3+ chars", rng.choice(THREE)
    else:
        kind = "no keyword"
    if rng.random() < 0.35:
        params["field"] = rng.sample(FIELD_SLUGS, rng.choice([1, 1, 1, 2]))
    if rng.random() < 0.35:
        params["area"] = rng.choice(AREAS)
    if rng.random() < 0.15:
        params["status"] = rng.choice(STATUSES)
    if rng.random() < 0.2:
        params["sort"] = rng.choice(SORTS)
    roll = rng.random()
    if roll < 0.2:
        params["page"] = rng.randint(2, 5)
    elif roll < 0.23:
        params["page"] = rng.randint(6, 200)
    return kind, params


class Searcher(FastHttpUser):
    """One person or program searching, half on the page and half through the API."""

    def wait_time(self) -> float:
        return THINK * (0.5 + _rng.random()) if THINK > 0 else 0

    def _get(self, endpoint: str, check) -> None:
        kind, params = draw(_rng)
        path = endpoint + "?" + urlencode(params, doseq=True) if params else endpoint
        started = time.time()
        t0 = time.perf_counter()
        with self.client.get(path, name=endpoint, catch_response=True) as response:
            elapsed = (time.perf_counter() - t0) * 1000
            error = None
            if response.status_code != 200:
                error = f"HTTP {response.status_code}"
            elif not check(response):
                error = "unexpected body"
            if error:
                response.failure(f"{error}: {path}")
            _records.append((endpoint, kind, started, elapsed, error))

    @task
    def search_page(self) -> None:
        self._get("/", lambda r: b"</html>" in (r.content or b""))

    @task
    def api_calls(self) -> None:
        self._get("/api/v1/calls", lambda r: '"items"' in (r.text or ""))


@events.quitting.add_listener
def _write_records(environment, **_kwargs) -> None:
    if RECORD:
        with open(RECORD, "w", encoding="utf-8") as f:
            for row in _records:
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
