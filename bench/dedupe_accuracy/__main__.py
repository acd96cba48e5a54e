"""Deduplication accuracy on the labelled listings, and the cost of the incremental index.

Run: python bench/dedupe_accuracy [--errors] [--json] [--speed N]
Every listing of bench/data/dedupe_listings.jsonl is normalized with `normalize_call` (today =
its published date) and clustered with `cluster_calls`. Printed:
(1) precision and recall on the labelled pairs of bench/data/dedupe_pairs.jsonl, and per kind;
(2) pair precision / recall / F1 over all pairs implied by `truth`, for `cluster_calls` and for
    the incremental `Matcher` fed in published order (as an ingest would);
(3) the machine. `--errors` lists the wrong pairs with the reasons `compare` gives.
`--speed N` also times `Matcher.add` and `Matcher.find` against an index of N generated calls.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections import Counter, defaultdict
from datetime import date, timedelta
from itertools import combinations
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from aggregator.dedupe import Matcher, cluster_calls, compare  # noqa: E402
from aggregator.normalize.pipeline import normalize_call  # noqa: E402
from aggregator.record import GrantCall, RawCall  # noqa: E402

DATA = ROOT / "bench" / "data"


def load() -> tuple[list[dict], list[dict]]:
    with (DATA / "dedupe_listings.jsonl").open(encoding="utf-8") as f:
        listings = [json.loads(line) for line in f if line.strip()]
    with (DATA / "dedupe_pairs.jsonl").open(encoding="utf-8") as f:
        pairs = [json.loads(line) for line in f if line.strip()]
    return listings, pairs


def prf(tp: int, fp: int, fn: int) -> dict:
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "f1": round(f1, 4),
    }


def all_pairs(truth: dict[str, str], cluster: dict[str, str]) -> tuple[dict, list]:
    tp = fp = fn = 0
    wrong = []
    for a, b in combinations(sorted(truth), 2):
        same_truth = truth[a] == truth[b]
        same_pred = cluster[a] == cluster[b]
        if same_truth and same_pred:
            tp += 1
        elif same_pred:
            fp += 1
            wrong.append((a, b, False))
        elif same_truth:
            fn += 1
            wrong.append((a, b, True))
    return prf(tp, fp, fn), wrong


def labelled(pairs: list[dict], cluster: dict[str, str]) -> tuple[dict, dict, list]:
    counts: dict[str, Counter] = defaultdict(Counter)
    total: Counter = Counter()
    wrong = []
    for p in pairs:
        pred = cluster[p["a"]] == cluster[p["b"]]
        outcome = ("tp" if pred else "fn") if p["same"] else ("fp" if pred else "tn")
        total[outcome] += 1
        counts[f"{'same' if p['same'] else 'different'}:{p['kind']}"][outcome] += 1
        if outcome in ("fp", "fn"):
            wrong.append(p)
    per_kind = {
        kind: {"pairs": sum(c.values()), "correct": c["tp"] + c["tn"]}
        for kind, c in sorted(counts.items())
    }
    return prf(total["tp"], total["fp"], total["fn"]), per_kind, wrong


# --- synthetic index for the speed figure ------------------------------------------------

_SYLLABLES = "あかさたなはまやらわいきしちにひみりえけせてねへめれおこそとのほもよろ"
_KINDS = [
    "福祉財団",
    "子ども財団",
    "環境基金",
    "文化財団",
    "銀行",
    "生命保険",
    "電力",
    "共同募金会",
]
_LEGAL = {"福祉財団": "公益財団法人", "子ども財団": "公益財団法人", "環境基金": "一般財団法人"}
_LEGAL |= {"文化財団": "公益財団法人", "銀行": "株式会社", "生命保険": "株式会社"}
_LEGAL |= {"電力": "株式会社", "共同募金会": "社会福祉法人"}
_SHORT = {
    "公益財団法人": "(公財)",
    "一般財団法人": "(一財)",
    "株式会社": "(株)",
    "社会福祉法人": "(社福)",
}
_THEMES = ["地域福祉", "子どもの居場所づくり", "里山保全", "多文化共生", "防災・減災", "学習支援"]
_THEMES += ["高齢者サロン", "障害者スポーツ", "フードバンク", "読書ボランティア", "海辺の清掃"]
_THEMES += ["伝統芸能の継承", "ひとり親家庭", "医療的ケア児", "在宅福祉サービス", "環境教育"]
_THEMES += ["子ども食堂", "見守り", "生涯学習", "まちづくり", "国際交流", "動物愛護", "音楽"]
_SUFFIX = ["活動助成", "支援助成", "応援プログラム", "助成金", "活動支援事業", "応援基金"]
_DIVISIONS = ["", "", "", "", "〈一般部門〉", "〈特別部門〉", "(高齢者部門)", "(子ども部門)"]
_FORMS = [
    "{fy}年度 {title}",
    "{title}({fy}年度)",
    "{org}「{fy}年度 {title}」",
    "【助成先募集】{title}({org})",
    "令和{reiwa}年度 {title}",
    "{title}",
]


def synthetic_calls(n: int, seed: int = 7) -> list[tuple[GrantCall, str]]:
    """n (call, true call id) of programmes that open once a year, ~30% reposted elsewhere.

    Programmes of different funders share theme words, one funder has several programmes with
    the same deadline, and reposts write the organizer and the title in other forms.
    """
    rng = random.Random(seed)
    programmes = []
    for p in range(max(1, n // 12)):
        name = "".join(rng.choice(_SYLLABLES) for _ in range(rng.randrange(2, 5)))
        kind = rng.choice(_KINDS)
        org = f"{name}{kind}"
        month_day = rng.randrange(300)
        count = rng.randrange(1, 3)
        themes = rng.sample(_THEMES, count)
        for number, division in enumerate(rng.sample(_DIVISIONS, count)):
            # Half the programmes carry a name of their own (ひとりにしない…, あったかごはん…).
            brand = "".join(rng.choice(_SYLLABLES) for _ in range(4)) if rng.random() < 0.5 else ""
            title = f"{brand}{themes[number]}{rng.choice(_SUFFIX)}{division}"
            amount = rng.choice([10, 20, 30, 50, 100, 300, 500]) * 10_000
            # A funder's programmes close on the same day or weeks apart.
            day = month_day + rng.choice([0, 0, 30, 60, 120]) * number
            programmes.append((p, org, _LEGAL[kind], title, amount, day))
    listings: list[tuple[int, float, GrantCall, str]] = []
    base = date(2020, 4, 1)
    # One call per programme and year, listed by 1-3 of 10 sources. An ingest reads source
    # after source, so the reposts of a call are far apart in the stream (the hard case).
    instances = [(prog, year) for prog in range(len(programmes)) for year in range(8)]
    rng.shuffle(instances)
    for prog, year in instances:
        if len(listings) >= n:
            break
        p, org, legal, title, amount, month_day = programmes[prog]
        fy = 2020 + year
        deadline = base + timedelta(days=365 * year + month_day + rng.randrange(-10, 10))
        truth = f"{prog}:{year}"
        copies = 1 + (rng.random() < 0.3) + (rng.random() < 0.15)
        for copy, source in enumerate(rng.sample(range(10), copies)):
            form = rng.choice(_FORMS)
            shown_org = rng.choice([legal + org, _SHORT[legal] + org, org, None])
            call = GrantCall.model_construct(
                id=f"s{prog}-{year}-{copy}",
                title=form.format(fy=fy, reiwa=fy - 2018, title=title, org=shown_org or org),
                organizer=shown_org if copy else legal + org,
                deadline=deadline,
                application_start=deadline - timedelta(days=45),
                rounds=[],
                max_amount_yen=amount if rng.random() > 0.1 else None,
                fields=["health_welfare"],
                area="national",
                raw_text=f"{org}の{title}です。締切は{deadline.isoformat()}。",
            )
            listings.append((source, rng.random(), call, truth))
    listings.sort(key=lambda item: (item[0], item[1]))
    return [(call, truth) for _, _, call, truth in listings[:n]]


def _pair_counts(groups: dict[str, list[str]], truth: dict[str, str]) -> tuple[int, int, int]:
    """(true positive, false positive, false negative) pairs of a clustering, by counting."""
    predicted = sum(len(m) * (len(m) - 1) // 2 for m in groups.values())
    by_truth = Counter(truth.values())
    actual = sum(c * (c - 1) // 2 for c in by_truth.values())
    tp = 0
    for m in groups.values():
        counts = Counter(truth[k] for k in m)
        tp += sum(c * (c - 1) // 2 for c in counts.values())
    return tp, predicted - tp, actual - tp


def speed(n: int) -> dict:
    data = synthetic_calls(n + 2000)
    # 2000 probes drawn from every source; the index gets the rest in source order.
    chosen = set(random.Random(3).sample(range(len(data)), len(data) - n))
    index_calls = [item for i, item in enumerate(data) if i not in chosen]
    probe = [data[i][0] for i in sorted(chosen)]
    matcher = Matcher()
    rss_before = _rss_mb()
    started = time.perf_counter()
    for call, _ in index_calls:
        matcher.add(call.id, call)
    build = time.perf_counter() - started
    rss_after = _rss_mb()
    truth = {call.id: t for call, t in index_calls}
    quality = prf(*_pair_counts(matcher.clusters(), truth))
    started = time.perf_counter()
    for call in probe[:1000]:
        matcher.find(call)
    find_us = (time.perf_counter() - started) / 1000 * 1e6
    started = time.perf_counter()
    for call in probe[1000:]:
        matcher.add(call.id, call)
    add_us = (time.perf_counter() - started) / (len(probe) - 1000) * 1e6
    return {
        "index_calls": n,
        "clusters": len(matcher.clusters()),
        "build_s": round(build, 2),
        "mean_add_us_while_building": round(build / n * 1e6, 1),
        "add_us_at_full_index": round(add_us, 1),
        "find_us_at_full_index": round(find_us, 1),
        "index_rss_mb": round(rss_after - rss_before, 1),
        "synthetic_pairs": quality,
    }


def _rss_mb() -> float:
    """Resident memory of this process in MB (Linux), 0 elsewhere."""
    try:
        with open("/proc/self/statm", encoding="ascii") as f:
            pages = int(f.read().split()[1])
    except (OSError, ValueError, IndexError):
        return 0.0
    import os

    return pages * os.sysconf("SC_PAGE_SIZE") / 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--errors", action="store_true", help="list wrong pairs with reasons")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--speed", type=int, default=0, metavar="N", help="time a N-call index")
    args = parser.parse_args()

    listings, pairs = load()
    calls: dict[str, GrantCall] = {}
    for item in listings:
        raw = RawCall.model_validate(item)
        calls[raw.id] = normalize_call(raw, today=raw.published)
    truth = {item["id"]: item["truth"] for item in listings}

    started = time.perf_counter()
    batch = cluster_calls(list(calls.items()))
    batch_s = time.perf_counter() - started
    matcher = Matcher()
    order = sorted(listings, key=lambda item: (item.get("published") or "", item["id"]))
    incremental = {item["id"]: matcher.add(item["id"], calls[item["id"]]) for item in order}
    incremental = {key: matcher.cluster_of(key) or cid for key, cid in incremental.items()}

    lab, per_kind, lab_wrong = labelled(pairs, batch)
    every, every_wrong = all_pairs(truth, batch)
    lab_inc, _, _ = labelled(pairs, incremental)
    every_inc, _ = all_pairs(truth, incremental)
    figures = {
        "listings": len(listings),
        "calls_truth": len(set(truth.values())),
        "clusters": len(set(batch.values())),
        "labelled": lab,
        "per_kind": per_kind,
        "all_pairs": every,
        "incremental": {
            "clusters": len(set(incremental.values())),
            "labelled": lab_inc,
            "all_pairs": every_inc,
        },
        "cluster_calls_ms": round(batch_s * 1000, 1),
    }
    if args.speed:
        figures["speed"] = speed(args.speed)

    if args.json:
        print(json.dumps(figures, ensure_ascii=False))
    else:
        from bench._machine import machine_line

        print(f"dedupe accuracy: {len(listings)} listings, {figures['calls_truth']} calls")
        print(
            f"clusters found: {figures['clusters']} (cluster_calls),"
            f" {figures['incremental']['clusters']} (Matcher, published order)"
        )
        for name, block in (("labelled pairs", lab), ("all pairs", every)):
            print(
                f"{name:<16} precision {block['precision']:.3f}  recall {block['recall']:.3f}"
                f"  F1 {block['f1']:.3f}  (tp {block['tp']}, fp {block['fp']}, fn {block['fn']})"
            )
        for name, block in (("  Matcher, lab.", lab_inc), ("  Matcher, all", every_inc)):
            print(
                f"{name:<16} precision {block['precision']:.3f}  recall {block['recall']:.3f}"
                f"  F1 {block['f1']:.3f}"
            )
        print("per kind (labelled pairs):")
        for kind, c in per_kind.items():
            print(f"  {kind:<40}{c['correct']:>4}/{c['pairs']:<4}")
        print(f"cluster_calls on {len(listings)} listings: {figures['cluster_calls_ms']} ms")
        if args.speed:
            s = figures["speed"]
            print(
                f"Matcher at {s['index_calls']:,} calls: add {s['add_us_at_full_index']} µs,"
                f" find {s['find_us_at_full_index']} µs, building {s['build_s']} s"
                f" ({s['mean_add_us_while_building']} µs/add), index memory"
                f" {s['index_rss_mb']} MB"
            )
            q = s["synthetic_pairs"]
            print(
                f"  synthetic pairs: precision {q['precision']:.3f}  recall {q['recall']:.3f}"
                f"  (tp {q['tp']}, fp {q['fp']}, fn {q['fn']})"
            )
        print(f"machine: {machine_line()}")
    if args.errors:
        print("\nwrong labelled pairs:")
        for p in lab_wrong:
            result = compare(calls[p["a"]], calls[p["b"]])
            verdict = "missed" if p["same"] else "wrongly merged"
            print(f"  {p['a']} {p['b']} {verdict} [{p['kind']}] {p['note']}")
            print(f"    {calls[p['a']].title} | {calls[p['b']].title}")
            print(f"    compare: same={result.same} " + "; ".join(result.reasons))
        print("\nwrong pairs among all pairs (not labelled):")
        labelled_keys = {frozenset((p["a"], p["b"])) for p in pairs}
        for a, b, should in every_wrong:
            if frozenset((a, b)) in labelled_keys:
                continue
            result = compare(calls[a], calls[b])
            verdict = "missed" if should else "wrongly merged"
            print(f"  {a} {b} {verdict} ({truth[a]} / {truth[b]})")
            print(f"    {calls[a].title} | {calls[b].title}")
            print(f"    compare: same={result.same} " + "; ".join(result.reasons))
    return 0


if __name__ == "__main__":
    sys.exit(main())
