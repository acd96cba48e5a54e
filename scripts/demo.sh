#!/usr/bin/env bash
# The main job on the embedded defaults: crawl the bundled offline mirror of every source
# into an SQLite file (kyodo.db), show source health and what was collected, then serve the
# site at http://127.0.0.1:8000 (KYODO_DEMO_SERVE=0 to stop before serving).
set -euo pipefail
source "$(dirname "$0")/setup.sh"
cd "$ROOT"
PORT="${KYODO_DEMO_PORT:-8765}"
# The mirror is local: a short delay keeps the demo quick while staying one request at a time.
export KYODO_CRAWL_DELAY="${KYODO_CRAWL_DELAY:-0.1}"

kyodo db upgrade
kyodo mirror --port "$PORT" &
MIRROR_PID=$!
trap 'kill "$MIRROR_PID" 2>/dev/null || true' EXIT
for _ in $(seq 50); do
  python -c "import socket,sys; socket.create_connection(('127.0.0.1', $PORT), 0.2)" 2>/dev/null && break
  sleep 0.1
done

echo "== kyodo crawl --all --base-url http://127.0.0.1:$PORT"
kyodo crawl --all --base-url "http://127.0.0.1:$PORT"
echo
echo "== kyodo sources"
kyodo sources
echo
echo "== 締切が近い募集中の公募（kyodo.db、先頭10件）"
python - <<'PY'
from collections import defaultdict

from sqlalchemy import select
from sqlalchemy.orm import Session

from aggregator.settings import Settings
from aggregator.storage import make_engine
from aggregator.storage.models import CallRow, ListingRow

engine = make_engine(Settings().database_url)
with Session(engine) as session:
    sources = defaultdict(set)
    for call_id, source in session.execute(select(ListingRow.call_id, ListingRow.source)):
        sources[call_id].add(source)
    rows = session.scalars(
        select(CallRow)
        .where(CallRow.predicted.is_(False))
        .order_by(CallRow.deadline.is_(None), CallRow.deadline)
    ).all()
    for row in [r for r in rows if r.status == "open"][:10]:
        amount = f"{row.max_amount_yen:,}円" if row.max_amount_yen else "-"
        print(f"- {row.title}\n    締切 {row.deadline or '-'}  上限 {amount}  状態 {row.status or '-'}"
              f"  掲載元 {', '.join(sorted(sources[row.id]))}")
    print(f"\n{len(rows)} 件の公募を {engine.url} に保存しました")
PY

kill "$MIRROR_PID" 2>/dev/null || true
trap - EXIT
if [ "${KYODO_DEMO_SERVE:-1}" != 0 ]; then
  echo
  echo "== kyodo serve: http://127.0.0.1:${KYODO_SERVE_PORT:-8000}/ を開いてください（Ctrl+C で終了）"
  echo "   職員アカウントの作成: .venv/bin/kyodo staff create あなたのアドレス"
  echo "   （登録確認などのメールは KYODO_SMTP_HOST / KYODO_SMTP_PORT のサーバーへ送られ、"
  echo "     届かなかったものは .venv/bin/kyodo mail send で再送できます）"
  exec kyodo serve --host 127.0.0.1 --port "${KYODO_SERVE_PORT:-8000}"
fi
