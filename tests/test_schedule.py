"""`kyodo schedule`: slot arithmetic, the scheduler loop on a test's clock, the real command
(subprocesses crawling the sample mirror and sending through aiosmtpd, a real SIGTERM), and
the systemd units and crontab in deploy/ against the code's defaults.
"""

from __future__ import annotations

import asyncio
import configparser
import email
import email.policy
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time as time_module
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from aiosmtpd.controller import Controller
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from aggregator.groups import GroupProfile, create_group
from aggregator.mail import enqueue
from aggregator.schedule import (
    INTERRUPTED,
    Job,
    RunResult,
    RunStore,
    Scheduler,
    StopRequest,
    daily_latest,
    daily_next,
    interval_latest,
    interval_next,
    jobs_from_settings,
)
from aggregator.settings import Settings
from aggregator.storage.db import make_engine, upgrade_database
from aggregator.storage.models import CallRow, GroupRow, JobRunRow
from spiders.mirror import SAMPLE_MIRROR, Mirror, MirrorServer
from tests.cli import kyodo

REPO = Path(__file__).resolve().parents[1]
DEPLOY = REPO / "deploy"
TOKYO = ZoneInfo("Asia/Tokyo")
MONDAY_0901 = "2026-11-30T09:01:00+09:00"


def jst(text: str) -> datetime:
    """A Tokyo wall-clock time such as "2026-11-30 09:01", as an aware UTC datetime."""
    return datetime.fromisoformat(text).replace(tzinfo=TOKYO).astimezone(UTC)


def local(moment: datetime) -> str:
    return moment.astimezone(TOKYO).strftime("%Y-%m-%d %H:%M")


# -- slots ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "latest", "following"),
    [
        ("2026-11-30 09:01", "2026-11-30 03:00", "2026-12-01 03:00"),
        ("2026-11-30 03:00", "2026-11-30 03:00", "2026-12-01 03:00"),  # a slot is <= itself
        ("2026-11-30 02:59", "2026-11-29 03:00", "2026-11-30 03:00"),
        ("2026-12-01 00:00", "2026-11-30 03:00", "2026-12-01 03:00"),  # midnight
        ("2027-01-01 00:30", "2026-12-31 03:00", "2027-01-01 03:00"),  # new year
        ("2028-03-01 01:00", "2028-02-29 03:00", "2028-03-01 03:00"),  # leap day
    ],
)
def test_daily_slots_in_tokyo(now: str, latest: str, following: str) -> None:
    assert local(daily_latest(jst(now), time(3, 0), TOKYO)) == latest
    assert local(daily_next(jst(now), time(3, 0), TOKYO)) == following


def test_daily_slots_follow_the_tokyo_date_not_the_utc_one() -> None:
    now = datetime(2026, 11, 29, 20, 0, tzinfo=UTC)  # Sunday in UTC, Monday 05:00 in Tokyo
    assert local(daily_latest(now, time(3, 0), TOKYO)) == "2026-11-30 03:00"
    assert daily_latest(now, time(3, 0), TOKYO) == datetime(2026, 11, 29, 18, 0, tzinfo=UTC)
    assert local(daily_next(now, time(9, 0), TOKYO)) == "2026-11-30 09:00"


def test_a_year_of_tokyo_slots_is_24_hours_apart_at_the_same_wall_time() -> None:
    moment, gaps, hours = jst("2026-01-01 00:00"), set(), set()
    for _ in range(366):
        following = daily_next(moment, time(9, 0), TOKYO)
        gaps.add(following - moment if moment.astimezone(TOKYO).hour == 9 else None)
        hours.add(following.astimezone(TOKYO).strftime("%H:%M"))
        moment = following
    assert hours == {"09:00"}
    assert gaps - {None} == {timedelta(hours=24)}  # no daylight saving time in Japan
    # In a zone with DST the slot stays at 09:00 on the wall clock (23 and 25 hour days).
    york = ZoneInfo("America/New_York")
    before = datetime(2026, 3, 7, 9, 0, tzinfo=york)
    after = daily_next(before.astimezone(UTC), time(9, 0), york)
    assert after.astimezone(york).strftime("%m-%d %H:%M") == "03-08 09:00"
    assert after - before == timedelta(hours=23)


@pytest.mark.parametrize(
    ("minutes", "now", "latest", "following"),
    [
        (10, "2026-11-30 09:01", "2026-11-30 09:00", "2026-11-30 09:10"),
        (10, "2026-11-30 09:10", "2026-11-30 09:10", "2026-11-30 09:20"),
        (10, "2026-11-30 23:55", "2026-11-30 23:50", "2026-12-01 00:00"),
        (1, "2026-11-30 09:01", "2026-11-30 09:01", "2026-11-30 09:02"),
        (1440, "2026-11-30 09:01", "2026-11-30 00:00", "2026-12-01 00:00"),
        # 7 does not divide a day: the last slot is 23:55, the count starts again at midnight.
        (7, "2026-11-30 23:57", "2026-11-30 23:55", "2026-12-01 00:00"),
        (7, "2026-12-01 00:03", "2026-12-01 00:00", "2026-12-01 00:07"),
    ],
)
def test_interval_slots_count_from_local_midnight(
    minutes: int, now: str, latest: str, following: str
) -> None:
    assert local(interval_latest(jst(now), minutes, TOKYO)) == latest
    assert local(interval_next(jst(now), minutes, TOKYO)) == following


def _jobs(**settings) -> dict[str, Job]:
    values = {"database_url": "sqlite:///unused.db", **settings}
    return {job.name: job for job in jobs_from_settings(Settings(**values))}


def test_catch_up_windows() -> None:
    jobs = _jobs()
    monday_digest = jst("2026-11-30 09:00")
    assert jobs["digest"].in_window(monday_digest, jst("2026-11-30 23:59"))
    assert not jobs["digest"].in_window(monday_digest, jst("2026-12-01 00:00"))
    crawl = jst("2026-11-30 03:00")
    assert jobs["crawl"].in_window(crawl, jst("2026-12-01 02:59"))
    assert not jobs["crawl"].in_window(crawl, jst("2026-12-01 03:00"))
    assert jobs["mail"].in_window(jst("2020-01-01 00:00"), jst("2026-12-01 03:00"))


def test_commands_carry_the_schedulers_date_and_iso_week() -> None:
    jobs = _jobs(schedule_crawl_args="canpan 'wam' --base-url http://127.0.0.1:9")
    sunday = jst("2027-01-03 09:01")  # ISO week 53 of 2026
    assert jobs["digest"].argv(sunday) == [
        "digest", "send", "--due", "--today", "2027-01-03", "--week", "2026-W53",
    ]  # fmt: skip
    assert jobs["crawl"].argv(sunday) == [
        "crawl", "canpan", "wam", "--base-url", "http://127.0.0.1:9", "--today", "2027-01-03",
    ]  # fmt: skip
    # The Tokyo date, not UTC's (still Sunday there).
    assert jobs["reminders"].argv(jst("2026-11-30 08:00")) == [
        "reminders", "--today", "2026-11-30",
    ]  # fmt: skip
    assert jobs["mail"].argv(sunday) == ["mail", "send"]


def test_settings_turn_jobs_off_and_reject_bad_values(monkeypatch) -> None:
    monkeypatch.setenv("KYODO_SCHEDULE_CRAWL_AT", "OFF")
    monkeypatch.setenv("KYODO_SCHEDULE_DIGEST_AT", "7:30")
    monkeypatch.setenv("KYODO_SCHEDULE_MAIL_MINUTES", "off")
    jobs = {job.name: job for job in jobs_from_settings(Settings())}
    assert not jobs["crawl"].enabled and not jobs["mail"].enabled
    assert jobs["digest"].at == time(7, 30) and jobs["reminders"].at == time(8, 0)
    assert "KYODO_SCHEDULE_CRAWL_AT=off" in jobs["crawl"].when()
    for name, value, words in [
        ("KYODO_SCHEDULE_REMINDERS_AT", "24:00", "KYODO_SCHEDULE_REMINDERS_AT は 03:00"),
        ("KYODO_SCHEDULE_DIGEST_AT", "9時", "HH:MM, or off"),
        ("KYODO_SCHEDULE_MAIL_MINUTES", "0", "1〜1440"),
        ("KYODO_SCHEDULE_MAIL_MINUTES", "1441", "1〜1440"),
        ("KYODO_SCHEDULE_CRAWL_ARGS", "--base-url 'http://x", "No closing quotation"),
        ("KYODO_SCHEDULE_CRAWL_ARGS", " ", "--all"),
    ]:
        monkeypatch.setenv(name, value)
        with pytest.raises(ValidationError, match=re.escape(words)):
            Settings()
        monkeypatch.delenv(name)


# -- the scheduler on a test's clock -------------------------------------------------------------


@pytest.fixture(scope="module")
def _template_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("schedule") / "template.db"
    upgrade_database(f"sqlite:///{path}")
    return path


@pytest.fixture
def store(tmp_path: Path, _template_db: Path) -> Iterator[RunStore]:
    shutil.copy(_template_db, tmp_path / "kyodo.db")
    engine = make_engine(f"sqlite:///{tmp_path / 'kyodo.db'}")
    yield RunStore(engine)
    engine.dispose()


class FakeClock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class RecordingRunner:
    """Runs nothing: notes each command and moves the test's clock on by the job's duration."""

    clock: FakeClock
    minutes: dict[str, float] = field(default_factory=dict)
    results: dict[str, list[RunResult]] = field(default_factory=dict)
    calls: list[tuple[str, str, list[str]]] = field(default_factory=list)

    def __call__(self, job: Job, argv: list[str]) -> RunResult:
        self.calls.append((job.name, local(self.clock()), argv))
        self.clock.advance(60 * self.minutes.get(job.name, 1))
        planned = self.results.get(job.name)
        return planned.pop(0) if planned else RunResult(0, f"{job.name} の出力")


def runs(store: RunStore) -> list[tuple[str, str, str, str]]:
    """(job, slot, started, outcome) of every recorded run, in order, in Tokyo time."""
    with Session(store.engine) as session:
        rows = session.scalars(select(JobRunRow).order_by(JobRunRow.id)).all()
        return [(r.job, local(r.scheduled_for), local(r.started_at), r.outcome) for r in rows]


def test_a_new_install_on_monday_morning_runs_each_latest_slot_once(store: RunStore) -> None:
    clock = FakeClock(jst("2026-11-30 09:01"))
    runner = RecordingRunner(clock, minutes={"crawl": 20})
    log: list[str] = []
    scheduler = Scheduler(
        jobs_from_settings(Settings()), store, runner, clock=clock, log=log.append
    )
    ran = scheduler.run_due()
    assert [(r.job, local(r.slot), r.outcome) for r in ran] == [
        ("crawl", "2026-11-30 03:00", "ok"),
        ("reminders", "2026-11-30 08:00", "ok"),
        ("digest", "2026-11-30 09:00", "ok"),
        # The crawl took 20 minutes: mail runs for the slot of the time it starts.
        ("mail", "2026-11-30 09:20", "ok"),
    ]
    assert runner.calls[2] == (
        "digest", "2026-11-30 09:22", ["digest", "send", "--due", "--today", "2026-11-30",
                                       "--week", "2026-W49"],
    )  # fmt: skip
    assert [r[2] for r in runs(store)] == [
        "2026-11-30 09:01", "2026-11-30 09:21", "2026-11-30 09:22", "2026-11-30 09:23",
    ]  # fmt: skip
    assert scheduler.run_due() == []  # nothing twice
    assert len(log) == 8 and "crawl が終わりました: 成功 (exit 0, 20分0秒)" in log[1]
    with Session(store.engine) as session:
        assert session.scalars(select(JobRunRow.detail)).first() == "crawl の出力"


def test_a_new_install_after_midnight_skips_yesterdays_digest(store: RunStore) -> None:
    clock = FakeClock(jst("2026-11-30 00:30"))  # Monday, before the 09:00 digest
    scheduler = Scheduler(
        jobs_from_settings(Settings()), store, RecordingRunner(clock), clock=clock, log=print
    )
    # Sunday 09:00's digest is past its day; the crawl and reminders catch up on Sunday's.
    assert [(job.name, local(slot)) for job, slot in scheduler.due(clock())] == [
        ("crawl", "2026-11-29 03:00"),
        ("reminders", "2026-11-29 08:00"),
        ("mail", "2026-11-30 00:30"),
    ]


def test_the_loop_runs_jobs_at_their_times_and_a_long_crawl_delays_the_rest(
    store: RunStore,
) -> None:
    # Everything ran on Sunday; the loop runs from Sunday 23:58 until Monday 12:00.
    clock = FakeClock(jst("2026-11-29 23:58"))
    jobs = jobs_from_settings(Settings(schedule_mail_minutes=60))
    for job in jobs:
        run_id = store.start(job.name, job.latest_slot(clock()), clock())
        store.finish(run_id, "ok", "", clock())
    runner = RecordingRunner(clock, minutes={"crawl": 7 * 60})  # 03:00 until 10:00
    stop = StopRequest()

    def wait(seconds: float) -> None:
        assert 0 <= seconds <= 60
        clock.advance(seconds)
        if clock() >= jst("2026-11-30 12:00"):
            stop.request()

    Scheduler(jobs, store, runner, clock=clock, log=lambda _: None).run_forever(stop, wait)
    assert [(name, started) for name, started, _ in runner.calls] == [
        ("mail", "2026-11-30 00:00"),
        ("mail", "2026-11-30 01:00"),
        ("mail", "2026-11-30 02:00"),
        ("crawl", "2026-11-30 03:00"),
        # One at a time: the 08:00 reminders and 09:00 digest wait for the crawl.
        ("reminders", "2026-11-30 10:00"),
        ("digest", "2026-11-30 10:01"),
        ("mail", "2026-11-30 10:02"),  # for 10:00; the 03:00–09:00 slots are not replayed
        ("mail", "2026-11-30 11:00"),
    ]
    assert runs(store)[-4:-2] == [
        ("reminders", "2026-11-30 08:00", "2026-11-30 10:00", "ok"),
        ("digest", "2026-11-30 09:00", "2026-11-30 10:01", "ok"),
    ]


def test_failed_runs_wait_for_their_next_slot_but_interrupted_ones_run_again(
    store: RunStore,
) -> None:
    clock = FakeClock(jst("2026-11-30 09:01"))
    runner = RecordingRunner(
        clock,
        results={
            "crawl": [RunResult(1, "error: no listings")],
            "digest": [RunResult(-15, "", interrupted=True), RunResult(0, "sent")],
        },
    )
    jobs = jobs_from_settings(Settings(schedule_mail_minutes=None))
    scheduler = Scheduler(jobs, store, runner, clock=clock, log=lambda _: None)
    first = scheduler.run_due()
    assert [(r.job, r.outcome, r.interrupted) for r in first] == [
        ("crawl", "failed", False),
        ("reminders", "ok", False),
        ("digest", "failed", True),
    ]
    with Session(store.engine) as session:
        digest = session.scalars(select(JobRunRow).where(JobRunRow.job == "digest")).one()
        assert digest.detail.startswith(INTERRUPTED)
    # The stopped digest runs again (same slot); the failed crawl waits for tomorrow 03:00.
    again = scheduler.run_due()
    assert [(r.job, local(r.slot), r.outcome) for r in again] == [
        ("digest", "2026-11-30 09:00", "ok")
    ]
    assert scheduler.run_due() == []


def test_a_run_left_running_by_a_dead_scheduler_is_closed_and_run_again(
    store: RunStore,
) -> None:
    clock = FakeClock(jst("2026-11-30 09:30"))
    store.start("digest", jst("2026-11-30 09:00"), jst("2026-11-30 09:00"))  # never finished
    jobs = [job for job in jobs_from_settings(Settings()) if job.name == "digest"]
    runner = RecordingRunner(clock)
    scheduler = Scheduler(jobs, store, runner, clock=clock, log=lambda _: None)
    assert scheduler.due(clock()) == []  # running (maybe elsewhere): not started twice
    stop = StopRequest()
    scheduler.run_forever(stop, wait=lambda _seconds: stop.request())
    assert runs(store) == [
        ("digest", "2026-11-30 09:00", "2026-11-30 09:00", "failed"),
        ("digest", "2026-11-30 09:00", "2026-11-30 09:30", "ok"),
    ]
    assert store.last_run("digest").outcome == "ok"


def test_a_job_that_cannot_start_does_not_stop_the_others(store: RunStore) -> None:
    clock = FakeClock(jst("2026-11-30 09:01"))

    def runner(job: Job, argv: list[str]) -> RunResult:
        if job.name == "crawl":
            raise FileNotFoundError("python")
        return RunResult(0)

    scheduler = Scheduler(jobs_from_settings(Settings()), store, runner, clock=clock, log=print)
    assert [r.outcome for r in scheduler.run_due()] == ["failed", "ok", "ok", "ok"]
    with Session(store.engine) as session:
        detail = session.scalars(select(JobRunRow.detail).order_by(JobRunRow.id)).first()
    assert "FileNotFoundError: python" in detail


# -- the real command ------------------------------------------------------------------------------


class _Inbox:
    """aiosmtpd handler keeping what it receives; `delay` seconds before answering DATA."""

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.messages: list[tuple[list[str], bytes]] = []

    async def handle_DATA(self, server, session, envelope):
        await asyncio.sleep(self.delay)
        self.messages.append((list(envelope.rcpt_tos), envelope.content))
        return "250 Message accepted"


@pytest.fixture
def smtp() -> Iterator[tuple[int, _Inbox]]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    inbox = _Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, inbox
    finally:
        controller.stop()


@pytest.fixture
def env(tmp_path: Path, smtp: tuple[int, _Inbox]) -> dict[str, str]:
    """Settings for a fresh, upgraded SQLite file and the test's SMTP server."""
    values = {
        **{k: v for k, v in os.environ.items() if not k.startswith("KYODO_")},
        "KYODO_DATABASE_URL": f"sqlite:///{tmp_path / 'kyodo.db'}",
        "KYODO_CRAWL_DELAY": "0",
        "KYODO_RETRY_BACKOFF": "0",
        "KYODO_CRAWL_TIMEOUT": "2",
        "KYODO_SMTP_HOST": "127.0.0.1",
        "KYODO_SMTP_PORT": str(smtp[0]),
        "KYODO_MAIL_FROM": "info@kyodo.example.jp",
        "KYODO_SITE_URL": "https://kyodo.example.jp",
    }
    upgraded = kyodo("db", "upgrade", env=values, cwd=tmp_path)
    assert upgraded.returncode == 0, upgraded.stderr
    return values


def _group(engine, email: str, weekday: int) -> None:
    profile = GroupProfile(
        name=f"{email} の会",
        fields=["children_youth", "welfare", "community"],
        prefecture="千葉県",
        municipality="鎌ケ谷市",
        legal_form="任意団体",
        members=20,
        founded_year=2018,
        needs=["funds"],
        recipients=[email],
    )
    with Session(engine) as session:
        group = create_group(session, profile)
        group.digest_weekday = weekday
        session.commit()


def test_once_on_monday_crawls_reminds_sends_digests_and_mail_then_nothing_twice(
    env: dict[str, str], smtp: tuple[int, _Inbox], tmp_path: Path
) -> None:
    _, inbox = smtp
    engine = make_engine(env["KYODO_DATABASE_URL"])
    _group(engine, "monday@example.jp", weekday=0)
    _group(engine, "tuesday@example.jp", weekday=1)
    with MirrorServer(Mirror.from_folder(SAMPLE_MIRROR)) as server:
        env["KYODO_SCHEDULE_CRAWL_ARGS"] = f"--all --base-url {server.url}"
        first = kyodo("schedule", "--once", "--now", MONDAY_0901, env=env, cwd=tmp_path)
        assert first.returncode == 0, first.stderr
        again = kyodo("schedule", "--once", "--now", MONDAY_0901, env=env, cwd=tmp_path)
        served = len(server.mirror.requests)
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip() == "今は実行するジョブがありません"
    assert served > 10

    with Session(engine) as session:
        rows = session.scalars(select(JobRunRow).order_by(JobRunRow.id)).all()
        calls = session.query(CallRow).count()
        groups = session.scalars(select(GroupRow.id)).all()
    engine.dispose()
    assert [(r.job, local(r.scheduled_for), r.outcome) for r in rows] == [
        ("crawl", "2026-11-30 03:00", "ok"),
        ("reminders", "2026-11-30 08:00", "ok"),
        ("digest", "2026-11-30 09:00", "ok"),
        ("mail", "2026-11-30 09:00", "ok"),
    ]
    assert all(r.finished_at >= r.started_at for r in rows)
    assert calls > 20  # the crawl filled the database before the digest was built
    assert "2026-W49" in rows[2].detail and len(groups) == 2
    # Only Monday's group got its digest (Tuesday's waits for its day), and only once.
    assert [to for to, _ in inbox.messages] == [["monday@example.jp"]]
    digest = email.message_from_bytes(inbox.messages[0][1], policy=email.policy.default)
    assert digest["Subject"].startswith("【かまがや助成情報】11/30週")
    assert "新着" in digest["Subject"]  # the crawl ran first: its calls are in the digest
    for job in ("crawl", "reminders", "digest", "mail"):
        assert re.search(rf"{job} が終わりました: 成功 \(exit 0, [\d.]+秒\)", first.stderr)
    assert "kyodo digest send --due --today 2026-11-30 --week 2026-W49" in first.stderr
    assert first.stdout.splitlines() == [
        "crawl（2026-11-30(月) 03:00 の分）: 成功",
        "reminders（2026-11-30(月) 08:00 の分）: 成功",
        "digest（2026-11-30(月) 09:00 の分）: 成功",
        "mail（2026-11-30(月) 09:00 の分）: 成功",
    ]

    listed = kyodo(
        "schedule", "--list", "--now", "2026-11-30T09:05:00+09:00", env=env, cwd=tmp_path
    )
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert lines[0] == "時刻は Asia/Tokyo です（現在 2026-11-30(月) 09:05）。"
    nexts = [line.strip() for line in lines if line.strip().startswith("次回")]
    assert nexts == [
        "次回: 2026-12-01(火) 03:00",
        "次回: 2026-12-01(火) 08:00",
        "次回: 2026-12-01(火) 09:00",
        "次回: 2026-11-30(月) 09:10",
    ]
    assert sum("前回: 成功" in line for line in lines) == 4
    assert "digest: 週間ダイジェスト（配信曜日の団体へ）・毎日 09:00" in lines


def test_cli_rejects_bad_settings_and_options(env: dict[str, str], tmp_path: Path) -> None:
    bad = kyodo(
        "schedule", "--list", env={**env, "KYODO_SCHEDULE_DIGEST_AT": "25:00"}, cwd=tmp_path
    )
    assert bad.returncode == 1 and "KYODO_SCHEDULE_DIGEST_AT は 03:00" in bad.stderr
    loop_with_now = kyodo("schedule", "--now", MONDAY_0901, env=env, cwd=tmp_path)
    assert loop_with_now.returncode == 2 and "--now は --list か --once" in loop_with_now.stderr
    all_off = {f"KYODO_SCHEDULE_{n}_AT": "off" for n in ("CRAWL", "REMINDERS", "DIGEST")}
    nothing = kyodo(
        "schedule", env={**env, **all_off, "KYODO_SCHEDULE_MAIL_MINUTES": "off"}, cwd=tmp_path
    )
    assert nothing.returncode == 1 and "すべてのジョブが off です" in nothing.stderr


def _start_loop(env: dict[str, str], cwd: Path, **settings: str) -> subprocess.Popen:
    only_mail = {f"KYODO_SCHEDULE_{n}_AT": "off" for n in ("CRAWL", "REMINDERS", "DIGEST")}
    return subprocess.Popen(
        [sys.executable, "-m", "kyodo.cli", "schedule"],
        env={**env, **only_mail, "KYODO_SCHEDULE_MAIL_MINUTES": "1", **settings},
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _queue_mail(env: dict[str, str]) -> None:
    engine = make_engine(env["KYODO_DATABASE_URL"])
    settings = Settings(database_url=env["KYODO_DATABASE_URL"], mail_from="info@kyodo.example.jp")
    with Session(engine) as session, session.begin():
        enqueue(session, settings, key="t1", kind="test", to="a@example.jp", subject="件名",
                text="本文")  # fmt: skip
    engine.dispose()


def _wait_for_running(env: dict[str, str], proc: subprocess.Popen) -> None:
    engine = make_engine(env["KYODO_DATABASE_URL"])
    try:
        deadline = time_module.monotonic() + 20
        while time_module.monotonic() < deadline:
            assert proc.poll() is None, proc.communicate()
            with Session(engine) as session:
                if session.scalars(select(JobRunRow).where(JobRunRow.outcome == "running")).all():
                    return
            time_module.sleep(0.05)
        pytest.fail("the scheduler did not start its mail job")
    finally:
        engine.dispose()


def _rows(env: dict[str, str]) -> list[JobRunRow]:
    engine = make_engine(env["KYODO_DATABASE_URL"])
    try:
        with Session(engine) as session:
            return list(session.scalars(select(JobRunRow).order_by(JobRunRow.id)))
    finally:
        engine.dispose()


def test_sigterm_lets_the_running_job_finish_then_exits_0(
    env: dict[str, str], smtp: tuple[int, _Inbox], tmp_path: Path
) -> None:
    _, inbox = smtp
    inbox.delay = 1.5  # the mail job is mid-send when the signal comes
    _queue_mail(env)
    proc = _start_loop(env, tmp_path)
    _wait_for_running(env, proc)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0, stderr
    [run] = _rows(env)
    assert (run.job, run.outcome) == ("mail", "ok")
    assert not run.detail.startswith(INTERRUPTED) and "送信 1件" in run.detail
    assert [to for to, _ in inbox.messages] == [["a@example.jp"]]
    assert "SIGTERM を受けました" in stderr and "停止しました" in stderr
    assert "を送ります" not in stderr  # the job was not signalled


def test_sigterm_past_the_grace_period_is_passed_on_and_the_run_recorded(
    env: dict[str, str], smtp: tuple[int, _Inbox], tmp_path: Path
) -> None:
    _, inbox = smtp
    inbox.delay = 6
    _queue_mail(env)
    proc = _start_loop(env, tmp_path, KYODO_SCHEDULE_STOP_GRACE="0.3")
    _wait_for_running(env, proc)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0, stderr
    assert "mail: SIGTERM を送ります" in stderr
    [run] = _rows(env)
    assert run.job == "mail" and run.outcome in ("ok", "failed") and run.finished_at
    assert run.detail.startswith(INTERRUPTED)  # so the next start runs it again


# -- deploy/: the systemd units and the crontab agree with the code ------------------------------


def _unit(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.optionxform = str  # keys are case-sensitive
    parser.read_string(path.read_text())
    return parser


def _kyodo_args(command: str) -> list[str]:
    """The arguments after the kyodo program in a command line (ignoring redirections)."""
    words = shlex.split(command.split(">>")[0].split("&&")[-1])
    at = next(i for i, word in enumerate(words) if word.endswith("/kyodo"))
    return words[at + 1 :]


def _defaults() -> dict[str, tuple[Job, list[str]]]:
    """Each job with its command at the default settings, without the dates added at run."""
    jobs = {job.name: job for job in jobs_from_settings(Settings())}
    return {name: (job, list(job.args)) for name, job in jobs.items()}


def _calendar_time(expression: str) -> tuple[str, str]:
    """("03:00" or "every 10 min", zone) from OnCalendar=*-*-* HH:MM:SS ZONE."""
    day, clock, zone = expression.split()
    assert day == "*-*-*"
    every = re.fullmatch(r"\*:00/(\d+):00", clock)
    return (f"every {every[1]} min" if every else clock.removesuffix(":00")), zone


def test_timer_units_run_each_job_at_its_default_time() -> None:
    defaults = _defaults()
    settings = Settings()
    for name, (job, args) in defaults.items():
        timer = _unit(DEPLOY / f"kyodo-{name}.timer")
        service = _unit(DEPLOY / f"kyodo-{name}.service")
        when, zone = _calendar_time(timer["Timer"]["OnCalendar"])
        assert zone == settings.timezone
        expected = f"{job.at:%H:%M}" if job.at else f"every {job.every_minutes} min"
        assert when == expected, name
        assert timer["Timer"]["Persistent"] == "true"
        assert service["Service"]["Type"] == "oneshot"
        assert _kyodo_args(service["Service"]["ExecStart"]) == args, name
    schedule = _unit(DEPLOY / "kyodo-schedule.service")["Service"]
    assert _kyodo_args(schedule["ExecStart"]) == ["schedule"]
    assert schedule["Type"] == "simple" and schedule["KillMode"] == "mixed"
    assert float(schedule["TimeoutStopSec"]) > 2 * settings.schedule_stop_grace


def test_crontab_runs_each_job_at_its_default_time() -> None:
    text = (DEPLOY / "crontab.example").read_text()
    assert re.search(r"^CRON_TZ=Asia/Tokyo$", text, re.M)
    entries = {}
    for line in text.splitlines():
        if not line.strip() or line.startswith("#") or re.match(r"^[A-Z_]+=", line):
            continue
        minute, hour, dom, month, dow, command = line.split(None, 5)
        assert (dom, month, dow) == ("*", "*", "*")
        args = _kyodo_args(command)
        name = next(n for n, (_, a) in _defaults().items() if a == args)
        entries[name] = (
            f"every {minute[2:]} min" if hour == "*" else f"{int(hour):02d}:{int(minute):02d}"
        )
    expected = {
        name: f"{job.at:%H:%M}" if job.at else f"every {job.every_minutes} min"
        for name, (job, _) in _defaults().items()
    }
    assert entries == expected


def test_deployed_commands_exist_and_units_pass_systemd_analyze(tmp_path: Path) -> None:
    commands = [args for _, args in _defaults().values()] + [["schedule"]]
    helps = [
        subprocess.Popen([sys.executable, "-m", "kyodo.cli", *args, "--help"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        for args in commands
    ]  # fmt: skip
    for args, proc in zip(commands, helps, strict=True):
        _, stderr = proc.communicate(timeout=60)
        assert proc.returncode == 0, (args, stderr)
    analyze = shutil.which("systemd-analyze")
    kyodo_bin = Path(sys.executable).parent / "kyodo"
    if analyze is None or not kyodo_bin.exists() or not Path("/usr/bin/flock").exists():
        pytest.skip("systemd-analyze, flock or the kyodo script is not here; files parsed above")
    units = []
    for path in sorted(DEPLOY.glob("kyodo-*.*")):  # ExecStart= must name an existing program
        copy = tmp_path / path.name
        copy.write_text(path.read_text().replace("/opt/kyodo/.venv/bin/kyodo", str(kyodo_bin)))
        units.append(str(copy))
    assert len(units) == 9
    result = subprocess.run([analyze, "verify", "--man=no", *units], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == "", result.stderr
