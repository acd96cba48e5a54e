"""Per-attribute accuracy of the normalizer on the labelled development set.

Run: python bench/normalize_accuracy [--set dev|heldout] [--errors ATTR] [--json]
Sets (calls written for kyodo, labelled by hand): `dev` is bench/data/devset_*.jsonl, used while
tuning the normalizer (its figures are optimistic); `heldout` is bench/data/heldout.jsonl,
written by someone who saw neither the normalizer nor the dev set, and never tuned on.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from aggregator.normalize.pipeline import normalize_call  # noqa: E402
from aggregator.record import RawCall  # noqa: E402

DATA = ROOT / "bench" / "data"
ATTRIBUTES = (
    "deadline",
    "deadline_kind",
    "application_start",
    "max_amount_yen",
    "total_budget_yen",
    "fields",
    "area",
    "informal_groups_ok",
)


SETS = {"dev": "devset_*.jsonl", "heldout": "heldout.jsonl"}


def load_set(name: str) -> list[dict]:
    items = []
    for path in sorted(DATA.glob(SETS[name])):
        with path.open(encoding="utf-8") as f:
            items.extend(json.loads(line) for line in f if line.strip())
    return items


def judge(attr: str, predicted, expected) -> bool:
    if attr == "fields":
        # Correct when the top predicted field is one the labeller accepted.
        return bool(predicted) and predicted[0] in expected if expected else not predicted
    return predicted == expected


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--set", choices=sorted(SETS), default="dev", help="which labelled set")
    parser.add_argument("--errors", metavar="ATTR", help="list the mistakes for one attribute")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()

    items = load_set(args.set)
    if not items:
        print(f"no labelled calls found in bench/data/{SETS[args.set]}", file=sys.stderr)
        return 1
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    mistakes: dict[str, list[str]] = defaultdict(list)
    fully_right = 0
    for item in items:
        raw = RawCall.model_validate(item["input"])
        call = normalize_call(raw, today=raw.published or date(2026, 11, 28))
        got = call.contract_dict()
        every = True
        for attr in ATTRIBUTES:
            if attr not in item["expected"]:
                continue
            expected = item["expected"][attr]
            predicted = got[attr]
            ok = judge(attr, predicted, expected)
            counts[attr][0] += ok
            counts[attr][1] += 1
            every = every and ok
            if not ok:
                mistakes[attr].append(
                    f"{raw.id}: expected {expected!r}, got {predicted!r}"
                    f" | evidence: {got['evidence'].get(attr, '')!r} | {item.get('note', '')}"
                )
        fully_right += every
    results = {
        attr: {"correct": ok, "total": n, "accuracy": round(ok / n, 4)}
        for attr, (ok, n) in counts.items()
    }
    if args.json:
        summary = {
            "set": args.set,
            "calls": len(items),
            "all_correct": fully_right,
            "attributes": results,
        }
        print(json.dumps(summary, ensure_ascii=False))
    else:
        from bench._machine import machine_line

        print(
            f"normalizer accuracy, {args.set} set, {len(items)} labelled calls ({machine_line()})"
        )
        print(f"{'attribute':<20}{'correct':>9}{'total':>7}{'accuracy':>10}")
        for attr in ATTRIBUTES:
            if attr in results:
                r = results[attr]
                print(f"{attr:<20}{r['correct']:>9}{r['total']:>7}{r['accuracy']:>10.1%}")
        n = len(items)
        print(f"{'all of the above':<20}{fully_right:>9}{n:>7}{fully_right / n:>10.1%}")
    if args.errors:
        print(f"\nmistakes for {args.errors}:")
        for line in mistakes.get(args.errors, []):
            print("  " + line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
