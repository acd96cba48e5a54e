"""Normalizer throughput on generated calls of about 1 KB each, on one core.

Run: python bench/normalize_speed [--calls 100000] [--size 1000] [--cli]
Prints calls/second for `normalize_call` in one process (one core) and, with --cli, for the
whole `kyodo normalize` command (JSON in and out) on the same calls.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from aggregator.normalize.pipeline import normalize_call  # noqa: E402
from aggregator.record import RawCall  # noqa: E402
from bench._machine import machine_line  # noqa: E402

WEEKDAYS = "月火水木金土日"
THEMES = [
    ("子ども食堂", "地域の子どもたちに食事と居場所を提供する活動"),
    ("高齢者の見守り", "一人暮らしの高齢者を訪問し、孤立を防ぐ活動"),
    ("里山の保全", "里山の下草刈りや生きもの調査を行う活動"),
    ("防災訓練", "自治会と協力して避難所運営の訓練を行う活動"),
    ("多文化共生", "外国人住民の日本語学習と生活相談を支える活動"),
    ("障がい者の就労", "障がいのある人の働く場をつくる活動"),
    ("伝統芸能の継承", "地域の祭囃子を子どもたちに伝える活動"),
    ("学習支援", "経済的に困難な家庭の中学生に学習の場を提供する活動"),
]
ORGS = [
    "公益財団法人 みらい福祉財団",
    "社会福祉法人 千葉県共同募金会",
    "鎌ケ谷市",
    "株式会社 あおば銀行",
]
FILLER = (
    "応募にあたっては募集要項を必ずお読みください。申請書類は郵送または電子メールで提出して"
    "ください。選考は書類審査により行い、結果は応募者全員に文書で通知します。"
    "活動報告書と会計報告の提出が必要です。ご不明な点は事務局までお問い合わせください。"
)


def wareki(d: date) -> str:
    return f"令和{d.year - 2018}年{d.month}月{d.day}日({WEEKDAYS[d.weekday()]}曜日)"


def make_call(i: int, rng: random.Random, size: int) -> dict:
    theme, activity = rng.choice(THEMES)
    published = date(2025, 1, 1) + timedelta(days=rng.randrange(700))
    start = published + timedelta(days=rng.randrange(0, 20))
    end = start + timedelta(days=rng.randrange(20, 80))
    style = i % 4
    if style == 0:
        term = f"募集期間:{start.year}年{start.month}月{start.day}日~{end.month}月{end.day}日(必着)"
    elif style == 1:
        term = f"応募締切 {wareki(end)}午後5時【必着】"
    elif style == 2:
        term = f"受付期間 {start:%Y/%m/%d} - {end:%Y/%m/%d}"
    else:
        term = "申請受付は随時(予算の上限に達した時点で終了)"
    cap = rng.choice([10, 20, 30, 50, 100, 300])
    amount = rng.choice(
        [
            f"1団体あたり上限{cap}万円",
            f"{cap * 1000:,}千円/1件",
            f"最大{cap}万円(助成総額{cap * 20}万円)",
        ]
    )
    who = rng.choice(
        ["法人格の有無は問いません。", "NPO法人に限ります。", "県内に事務所を有する5名以上の団体。"]
    )
    text = (
        f"{theme}に取り組む団体を応援します。\n{activity}を対象に助成を行います。\n"
        f"{term}\n助成金額:{amount}\n対象団体:{who}\n人件費は対象外です。\n"
    )
    while len(text.encode()) < size:
        text += FILLER
    text = text.encode()[:size].decode("utf-8", "ignore")
    return {
        "id": f"gen-{i}",
        "title": f"{published.year}年度 {theme}活動助成",
        "text": text,
        "published": published.isoformat(),
        "organizer": rng.choice(ORGS),
        "source": "bench",
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=100_000)
    parser.add_argument("--size", type=int, default=1000, help="bytes of UTF-8 text per call")
    parser.add_argument("--cli", action="store_true", help="also time `kyodo normalize`")
    parser.add_argument("--json", action="store_true", help="end with the figures as JSON")
    args = parser.parse_args()

    rng = random.Random(20261128)
    calls = [make_call(i, rng, args.size) for i in range(args.calls)]
    raws = [RawCall.model_validate(c) for c in calls]
    mean_size = sum(len(c["text"].encode()) for c in calls) / len(calls)
    today = date(2026, 11, 28)

    for raw in raws[:200]:  # warm up regex caches and imports
        normalize_call(raw, today=today)
    t0 = time.perf_counter()
    cpu0 = time.process_time()
    for raw in raws:
        normalize_call(raw, today=today)
    wall = time.perf_counter() - t0
    cpu = time.process_time() - cpu0

    print(f"machine: {machine_line()}")
    print(f"calls: {len(raws)}, mean text size {mean_size:.0f} bytes")
    print(
        f"normalize_call, one process: {len(raws) / wall:,.0f} calls/s "
        f"({wall:.1f} s wall, {cpu:.1f} s CPU, {wall / len(raws) * 1e6:.0f} µs/call)"
    )
    figures = {"calls": len(raws), "normalize_call_per_s": round(len(raws) / wall)}
    if args.cli:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "calls.jsonl"
            with path.open("w", encoding="utf-8") as f:
                for c in calls:
                    f.write(json.dumps(c, ensure_ascii=False) + "\n")
            t0 = time.perf_counter()
            with path.open("rb") as stdin:
                done = subprocess.run(
                    [sys.executable, "-m", "kyodo", "normalize", "--today", str(today)],
                    stdin=stdin,
                    stdout=subprocess.DEVNULL,
                    env={**os.environ, "PYTHONPATH": str(ROOT)},
                    check=True,
                )
            wall = time.perf_counter() - t0
            assert done.returncode == 0
        print(
            f"kyodo normalize (JSON lines in and out, process start included): "
            f"{len(calls) / wall:,.0f} calls/s ({wall:.1f} s)"
        )
        figures["cli_per_s"] = round(len(calls) / wall)
    if args.json:
        print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
