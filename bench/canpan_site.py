"""A generated CANPAN-shaped site (kyodo's own wording): for the crawl benchmark and tests.

List pages of 20 rows at `/grant/?page=N&sort=update&dir=desc` with 次へ paging, one detail
page a row at `/grant/detail/{n}`, in the structure of fields.canpan.info.
"""

from __future__ import annotations

import math
import random
from pathlib import Path

HOST = "fields.canpan.info"
THEMES = ["子ども食堂", "高齢者の見守り", "里山保全", "防災", "多文化共生", "学習支援", "地域福祉"]
ORGS = ["みらい市民財団", "あおぞら福祉基金", "ひかり環境財団", "こもれび社会貢献基金"]
STATUSES = ["募集中", "募集中", "募集予定", "募集終了"]


def _list_page(page: int, pages: int, rows: list[int], total: int) -> str:
    links = []
    if page > 1:
        links.append(f'<li><a href="/grant/?page={page - 1}&sort=update&dir=desc">＜ 前へ</a></li>')
    links.append(f'<li class="current">{page}</li>')
    if page < pages:
        links.append(f'<li><a href="/grant/?page={page + 1}&sort=update&dir=desc">次へ ＞</a></li>')
    else:
        links.append("<li>次へ ＞</li>")
    body = []
    for n in rows:
        rnd = random.Random(n)
        month = 1 + n % 12
        body.append(
            f"""<tr><td><div class="cell-wrapper first"><dl>
<dt><span>助成制度名</span></dt><dd><h3><a href="/grant/detail/{n}">{rnd.choice(THEMES)}活動助成 第{n}回</a></h3></dd>
<dt><span>実施団体</span></dt><dd><p><a href="/organization/detail/{1000 + n % 4}">{ORGS[n % 4]}</a></p></dd>
<dt><span>対象事業</span></dt><dd><p>事業プロジェクト</p></dd></dl></div></td>
<td><div class="cell-wrapper"><p class="status">{STATUSES[n % 4]}</p>
<p class="term">2026年{month}月1日～2026年{month}月28日</p>
<p class="update">2026年{month}月1日 10:00更新</p></div></td></tr>"""
        )
    first = (page - 1) * 20 + 1
    return f"""<!DOCTYPE html><html lang="ja"><head><meta charset="utf-8"><title>助成制度一覧</title></head>
<body><div id="search-results"><div class="box upper"><dl><dt><span>表示件数</span></dt><dd>
<p class="count">{len(rows)}/{total}件（{first}〜{first + len(rows) - 1}件目）</p>
<ul class="paging">{"".join(links)}</ul></dd></dl></div>
<table><tbody><tr><th><div class="cell-wrapper first">概要</div></th>
<th><div class="cell-wrapper last">募集ステータス・募集時期</div></th></tr>
{"".join(body)}</tbody></table></div></body></html>"""


def _detail_page(n: int) -> str:
    rnd = random.Random(n)
    month = 1 + n % 12
    pairs = [
        ("助成制度名", f"{rnd.choice(THEMES)}活動助成 第{n}回"),
        ("実施団体", f'<a href="/organization/detail/{1000 + n % 4}">{ORGS[n % 4]}</a>'),
        ("募集ステータス", STATUSES[n % 4]),
        ("募集時期", f"2026年{month}月1日～2026年{month}月28日"),
        ("対象分野", "子どもの健全育成、保健・医療・福祉"),
        ("内容／対象", "地域で活動する市民団体の事業を応援します。<br>任意団体も応募できます。"),
        (
            "助成金額",
            f"助成金総額：{rnd.randint(5, 50) * 100_000:,}円<br>1件あたりの上限額：500,000円",
        ),
    ]
    rows = "".join(
        f'<tr><td class="h"><h3>{label}</h3></td><td><div class="cell-wrapper">{value}'
        f"</div></td></tr>"
        for label, value in pairs
    )
    return f"""<!DOCTYPE html><html lang="ja"><head><meta charset="utf-8"><title>助成制度詳細</title></head>
<body><div id="page-title"><h1>助成制度詳細</h1><p class="update">最終更新日時：2026年{month}月1日 10:00</p></div>
<div id="detail"><table><tbody>{rows}</tbody></table></div></body></html>"""


def build_site(folder: Path, pages: int) -> tuple[int, int]:
    """A CANPAN-shaped site of about `pages` pages; returns (list pages, detail pages)."""
    lists = math.ceil(pages / 21)
    details = pages - lists
    site = folder / HOST
    (site / "grant" / "detail").mkdir(parents=True)
    routes = []
    ids = list(range(1, details + 1))
    for page in range(1, lists + 1):
        rows = ids[(page - 1) * 20 : page * 20]
        name = f"list-{page}.html"
        (site / name).write_text(_list_page(page, lists, rows, details), encoding="utf-8")
        query = "" if page == 1 else f'query = {{ page = "{page}" }}\n'
        routes.append(f'[[route]]\npath = "/grant/"\n{query}file = "{name}"\n')
    (site / "_routes.toml").write_text("\n".join(routes), encoding="utf-8")
    for n in ids:
        (site / "grant" / "detail" / f"{n}.html").write_text(_detail_page(n), encoding="utf-8")
    return lists, details
