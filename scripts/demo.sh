#!/usr/bin/env bash
# The main job on the embedded defaults: an SQLite file kyodo.db and the offline sample sources.
set -euo pipefail
source "$(dirname "$0")/setup.sh"
cd "$ROOT"
kyodo db upgrade
mkdir -p out
echo "== kyodo normalize samples/calls.jsonl > out/normalized.jsonl"
kyodo normalize samples/calls.jsonl > out/normalized.jsonl
python - <<'PY'
import json
for line in open("out/normalized.jsonl", encoding="utf-8"):
    c = json.loads(line)
    amount = f"{c['max_amount_yen']:,}円" if c["max_amount_yen"] else "-"
    print(f"- {c['title']}\n    締切 {c['deadline'] or '-'} ({c['deadline_kind']})"
          f"  上限 {amount}  分野 {','.join(c['fields'])}  地域 {c['area']}"
          f"\n    根拠: {c['evidence'].get('deadline', '-')}")
PY
echo "全件の結果 (JSON lines): out/normalized.jsonl"
