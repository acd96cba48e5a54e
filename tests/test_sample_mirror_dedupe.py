"""The sample mirror's reposts end up as one call each: `kyodo crawl --all` into SQLite, then
the listings and calls are read back.

One call is reposted by several sources in their own words (a foundation's call on CANPAN, in
JFC's feed and on 全社協's hub; a 鎌ケ谷市 subsidy on jGrants and in the prefecture's magazine;
a 千葉県共同募金会 call on its own site and on 千葉市社協's or 全社協's pages). Every repost group
below must share one `listings.call_id`, and every other listing must have a call of its own.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import defaultdict
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from spiders.mirror import SAMPLE_MIRROR, Mirror, MirrorServer

# name: (listing ids, the merged call's deadline, maximum amount, part of its organizer)
GROUPS: dict[str, tuple[frozenset[str], date, int, str]] = {
    # こもれび子ども財団「ちいさな居場所応援助成」: CANPAN, JFC's feed, 全社協's hub
    "komorebi-ibasho": (
        frozenset({"canpan/2531", "jfc/40218", "shakyo/261120kodomo"}),
        date(2027, 1, 15),
        500_000,
        "こもれび子ども財団",
    ),
    # 鎌ケ谷市 まちづくり提案事業補助金: jGrants, ちばNPO・ボランティア情報マガジン
    "kamagaya-teian": (
        frozenset({"jgrants/a0WJ200000KYc03MAA", "chiba_npo/npom599-3"}),
        date(2027, 2, 26),
        300_000,
        "鎌ケ谷市",
    ),
    # 千葉県共同募金会 災害ボランティア備品整備助成 第2期: its own site, 千葉市社協's reposts
    "saigai-bihin": (
        frozenset({"akaihane_chiba/141", "chiba_shakyo/saigai-shikizai-2026"}),
        date(2026, 10, 30),
        300_000,
        "千葉県共同募金会",
    ),
    # 千葉県共同募金会 障害者の外出支援車両整備助成: its own site, 全社協's hub
    "gaishutsu-sharyo": (
        frozenset({"akaihane_chiba/147", "shakyo/261105chiba"}),
        date(2027, 1, 29),
        1_500_000,
        "千葉県共同募金会",
    ),
}
GROUPED = frozenset().union(*(ids for ids, *_ in GROUPS.values()))


def kyodo(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kyodo.cli", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _json(value: Any) -> dict[str, Any]:
    return json.loads(value) if isinstance(value, str) else value


@pytest.fixture(scope="module")
def crawled(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The whole sample mirror crawled once into a fresh SQLite database."""
    tmp = tmp_path_factory.mktemp("mirror_dedupe")
    env = {
        **os.environ,
        "KYODO_DATABASE_URL": f"sqlite:///{tmp / 'kyodo.db'}",
        "KYODO_CRAWL_DELAY": "0",
        "KYODO_RETRY_BACKOFF": "0",
        "KYODO_CRAWL_TIMEOUT": "5",
    }
    upgrade = kyodo("db", "upgrade", env=env, cwd=tmp)
    assert upgrade.returncode == 0, upgrade.stderr
    with MirrorServer(Mirror.from_folder(SAMPLE_MIRROR)) as server:
        proc = kyodo("crawl", "--all", "--base-url", server.url, env=env, cwd=tmp)
    assert proc.returncode == 0, proc.stderr
    engine = create_engine(env["KYODO_DATABASE_URL"])
    try:
        with engine.connect() as conn:
            listings = {
                _json(raw)["id"]: {"call": call_id, "source": source, **_json(raw)}
                for call_id, source, raw in conn.execute(
                    text("select call_id, source, raw from listings")
                )
            }
            calls = {
                row.id: row._asdict()
                for row in conn.execute(
                    text(
                        "select id, title, organizer, deadline, max_amount_yen from calls"
                        " where not predicted"  # predicted next rounds have no listing
                    )
                )
            }
    finally:
        engine.dispose()
    members: dict[int, set[str]] = defaultdict(set)
    for key, listing in listings.items():
        members[listing["call"]].add(key)
    return {"listings": listings, "calls": calls, "members": dict(members)}


def describe(crawled: dict[str, Any], keys: set[str]) -> list[str]:
    """The listings' ids, calls and titles, for failure messages."""
    rows = crawled["listings"]
    return sorted(f"{k} (call {rows[k]['call']}): {rows[k]['title']}" for k in keys if k in rows)


def test_every_repost_is_in_the_crawl(crawled: dict[str, Any]) -> None:
    missing = GROUPED - set(crawled["listings"])
    assert not missing, sorted(missing)
    for ids, *_ in GROUPS.values():  # each group spans two or more sources
        assert len({key.split("/", 1)[0] for key in ids}) == len(ids) >= 2


@pytest.mark.parametrize("name", list(GROUPS))
def test_each_repost_group_is_one_call_of_its_own(crawled: dict[str, Any], name: str) -> None:
    ids, _, _, _ = GROUPS[name]
    call_ids = {crawled["listings"][key]["call"] for key in ids}
    assert len(call_ids) == 1, describe(crawled, set(ids))
    (call_id,) = call_ids
    # Nothing else joined the call.
    assert crawled["members"][call_id] == set(ids), describe(crawled, crawled["members"][call_id])


@pytest.mark.parametrize("name", list(GROUPS))
def test_the_merged_call_keeps_the_calls_facts(crawled: dict[str, Any], name: str) -> None:
    ids, deadline, amount, organizer = GROUPS[name]
    call_ids = {crawled["listings"][key]["call"] for key in ids}
    assert len(call_ids) == 1, describe(crawled, set(ids))
    (call_id,) = call_ids
    call = crawled["calls"][call_id]
    assert str(call["deadline"]) == deadline.isoformat()
    assert call["max_amount_yen"] == amount  # also where a repost states no amount
    assert organizer in (call["organizer"] or "")


def test_the_groups_are_the_only_calls_with_several_sources(crawled: dict[str, Any]) -> None:
    listings = crawled["listings"]
    shared = {
        call_id: keys
        for call_id, keys in crawled["members"].items()
        if len({listings[k]["source"] for k in keys}) >= 2
    }
    assert len(shared) == len(GROUPS), [describe(crawled, keys) for keys in shared.values()]
    groups = sorted(sorted(ids) for ids, *_ in GROUPS.values())
    assert sorted(map(sorted, shared.values())) == groups


def test_every_other_listing_has_a_call_of_its_own(crawled: dict[str, Any]) -> None:
    listings = crawled["listings"]
    for key in set(listings) - GROUPED:
        together = crawled["members"][listings[key]["call"]]
        assert together == {key}, describe(crawled, together)
    merged_away = sum(len(ids) - 1 for ids, *_ in GROUPS.values())
    assert len(crawled["calls"]) == len(listings) - merged_away
