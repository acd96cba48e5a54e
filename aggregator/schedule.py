"""`kyodo schedule`: the crawl, reminders, digests and mail retries, each at its time.

Four jobs, each a `kyodo` command run as a subprocess (Scrapy's reactor cannot restart in one
process, and a crashing job must not take the scheduler down), one at a time, recorded in
`job_runs`. Times are wall-clock times in KYODO_TIMEZONE.

A job's *slots* are the moments it is meant to run: every day at HH:MM, or every N minutes
from local midnight. A job is *due* when its latest slot (<= now) has no run recorded for it
or a later slot, and that slot is still within the job's catch-up window:

- crawl, reminders: 24 hours. Only the latest slot is ever looked at, so a machine that was
  off at 03:00 crawls once when it is back, whatever the hour; a backlog is never replayed.
- digest: until the end of the slot's day. `kyodo digest send --due` sends to the groups whose
  weekday is *today*; run the next day it would pick the wrong groups.
- mail: always (it only sends what is waiting in the outbox).

A run counts for its slot whether it succeeded or failed (a failing crawl is not retried every
minute), except a run that was *interrupted*: stopped by the scheduler's own shutdown, or left
`running` by a scheduler that died. Those run again at the next start, if still in the window;
every job is safe to repeat (the outbox keys make a digest or reminder go once).
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import sys
import threading
import time as time_module
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Engine, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from aggregator.settings import Settings
from aggregator.storage.models import JobRunRow

JOB_NAMES = ("crawl", "reminders", "digest", "mail")  # also the order of jobs due together
INTERRUPTED = "（中断されました）"  # first line of an interrupted run's detail
TAIL_LINES = 20  # lines of a job's output kept in job_runs.detail
TAIL_CHARS = 4000
MAX_SLEEP = 60.0  # seconds: the loop looks at the clock at least this often
WEEKDAYS = "月火水木金土日"

Clock = Callable[[], datetime]
Log = Callable[[str], None]


class ScheduleError(ValueError):
    """A schedule that cannot work (unknown time zone, every job off)."""


# -- slots: pure functions ---------------------------------------------------------------------


def _local_midnight(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0, 0), tzinfo=tz)


def daily_latest(now: datetime, at: time, tz: ZoneInfo) -> datetime:
    """The latest moment <= now that is `at` o'clock in `tz` (in UTC)."""
    local = now.astimezone(tz)
    slot = datetime.combine(local.date(), at, tzinfo=tz).astimezone(UTC)
    if slot > now:
        slot = datetime.combine(local.date() - timedelta(days=1), at, tzinfo=tz).astimezone(UTC)
    return slot


def daily_next(now: datetime, at: time, tz: ZoneInfo) -> datetime:
    """The first moment > now that is `at` o'clock in `tz` (in UTC)."""
    local = now.astimezone(tz)
    slot = datetime.combine(local.date(), at, tzinfo=tz).astimezone(UTC)
    if slot <= now:
        slot = datetime.combine(local.date() + timedelta(days=1), at, tzinfo=tz).astimezone(UTC)
    return slot


def interval_latest(now: datetime, minutes: int, tz: ZoneInfo) -> datetime:
    """The latest slot <= now of "every `minutes` minutes from local midnight" (in UTC)."""
    local = now.astimezone(tz)
    midnight = _local_midnight(local.date(), tz).astimezone(UTC)
    step = timedelta(minutes=minutes)
    return midnight + step * ((now - midnight) // step)


def interval_next(now: datetime, minutes: int, tz: ZoneInfo) -> datetime:
    """The first slot > now of "every `minutes` minutes from local midnight" (in UTC).

    When `minutes` does not divide a day, the count starts again at midnight."""
    local = now.astimezone(tz)
    following = interval_latest(now, minutes, tz) + timedelta(minutes=minutes)
    next_midnight = _local_midnight(local.date() + timedelta(days=1), tz).astimezone(UTC)
    return min(following, next_midnight)


# -- jobs --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Job:
    """One scheduled kyodo command: daily at `at`, or every `every_minutes`; neither = off."""

    name: str
    label: str
    args: tuple[str, ...]  # the kyodo command line, without the dates added at run time
    tz: ZoneInfo
    setting: str  # the KYODO_ variable that sets its time, for messages
    at: time | None = None
    every_minutes: int | None = None

    @property
    def enabled(self) -> bool:
        return self.at is not None or self.every_minutes is not None

    def latest_slot(self, now: datetime) -> datetime:
        if self.at is not None:
            return daily_latest(now, self.at, self.tz)
        return interval_latest(now, self._minutes(), self.tz)

    def next_slot(self, now: datetime) -> datetime:
        if self.at is not None:
            return daily_next(now, self.at, self.tz)
        return interval_next(now, self._minutes(), self.tz)

    def catch_up_until(self, slot: datetime) -> datetime | None:
        """Until when a missed `slot` is still run (None: always)."""
        if self.name == "digest":
            day = slot.astimezone(self.tz).date() + timedelta(days=1)
            return _local_midnight(day, self.tz).astimezone(UTC)
        if self.name == "mail":
            return None
        return slot + timedelta(hours=24)

    def in_window(self, slot: datetime, now: datetime) -> bool:
        until = self.catch_up_until(slot)
        return until is None or now < until

    def argv(self, now: datetime) -> list[str]:
        """The command for a run at `now`: dated commands get the scheduler's date, so a run
        for Monday's slot works on Monday's groups and deadlines whatever the machine's clock."""
        day = now.astimezone(self.tz).date()
        args = list(self.args)
        if self.name in ("crawl", "reminders", "digest") and "--today" not in args:
            args += ["--today", day.isoformat()]
        if self.name == "digest" and "--week" not in args:
            year, week, _ = day.isocalendar()
            args += ["--week", f"{year}-W{week:02d}"]
        return args

    def when(self) -> str:
        """How often, in words for staff."""
        if self.at is not None:
            return f"毎日 {self.at:%H:%M}"
        if self.every_minutes is not None:
            return f"{self.every_minutes}分ごと"
        return f"停止中（{self.setting}=off）"

    def _minutes(self) -> int:
        if self.every_minutes is None:
            raise ScheduleError(f"{self.name} is off")
        return self.every_minutes


def jobs_from_settings(settings: Settings) -> list[Job]:
    """The four jobs, in JOB_NAMES order (those set to off included, not enabled)."""
    try:
        tz = ZoneInfo(settings.timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ScheduleError(
            f"KYODO_TIMEZONE が時間帯として読めません (unknown time zone): {settings.timezone!r}"
        ) from exc
    return [
        Job(
            "crawl",
            "助成情報の収集",
            ("crawl", *shlex.split(settings.schedule_crawl_args)),
            tz,
            "KYODO_SCHEDULE_CRAWL_AT",
            at=settings.schedule_crawl_at,
        ),
        Job(
            "reminders",
            "締切のお知らせ",
            ("reminders",),
            tz,
            "KYODO_SCHEDULE_REMINDERS_AT",
            at=settings.schedule_reminders_at,
        ),
        Job(
            "digest",
            "週間ダイジェスト（配信曜日の団体へ）",
            ("digest", "send", "--due"),
            tz,
            "KYODO_SCHEDULE_DIGEST_AT",
            at=settings.schedule_digest_at,
        ),
        Job(
            "mail",
            "送信待ちメールの送信",
            ("mail", "send"),
            tz,
            "KYODO_SCHEDULE_MAIL_MINUTES",
            every_minutes=settings.schedule_mail_minutes,
        ),
    ]


# -- clocks ------------------------------------------------------------------------------------


def system_clock() -> datetime:
    return datetime.now(UTC)


def clock_from(start: datetime) -> Clock:
    """A clock that reads `start` now and runs on at the real pace (for `--now`)."""
    origin = time_module.monotonic()
    return lambda: start + timedelta(seconds=time_module.monotonic() - origin)


def parse_now(text: str, tz: ZoneInfo) -> datetime:
    """An ISO 8601 time; without an offset it is read in `tz`."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise ScheduleError(
            f"--now は 2026-11-30T09:01:00+09:00 の形で指定してください (not ISO 8601: {text!r})"
        ) from exc
    if value.tzinfo is None:
        value = value.replace(tzinfo=tz)
    return value.astimezone(UTC)


# -- the record: job_runs ----------------------------------------------------------------------


@dataclass(frozen=True)
class LastRun:
    scheduled_for: datetime
    started_at: datetime
    finished_at: datetime | None
    outcome: str
    interrupted: bool


class RunStore:
    """Runs of jobs in the `job_runs` table."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def is_done(self, job: str, slot: datetime) -> bool:
        """A run for `slot` or a later one exists, running or finished, and not interrupted."""
        with Session(self.engine) as session:
            rows = session.execute(
                select(JobRunRow.outcome, JobRunRow.detail).where(
                    JobRunRow.job == job, JobRunRow.scheduled_for >= slot
                )
            ).all()
        return any(not _interrupted(outcome, detail) for outcome, detail in rows)

    def start(self, job: str, slot: datetime, at: datetime) -> int:
        with Session(self.engine) as session, session.begin():
            row = JobRunRow(job=job, scheduled_for=slot, started_at=at, outcome="running")
            session.add(row)
            session.flush()
            return row.id

    def finish(self, run_id: int, outcome: str, detail: str, at: datetime) -> None:
        with Session(self.engine) as session, session.begin():
            row = session.get(JobRunRow, run_id)
            row.outcome = outcome
            row.detail = detail
            row.finished_at = at

    def close_stale(self, at: datetime) -> int:
        """Marks runs still `running` as interrupted: their scheduler died (only one runs)."""
        with Session(self.engine) as session, session.begin():
            rows = session.scalars(select(JobRunRow).where(JobRunRow.outcome == "running")).all()
            for row in rows:
                row.outcome = "failed"
                row.finished_at = at
                row.detail = f"{INTERRUPTED}\nスケジューラーが実行中に終了していました。\n" + (
                    row.detail or ""
                )
            return len(rows)

    def last_run(self, job: str) -> LastRun | None:
        with Session(self.engine) as session:
            row = session.scalars(
                select(JobRunRow)
                .where(JobRunRow.job == job)
                .order_by(JobRunRow.started_at.desc(), JobRunRow.id.desc())
                .limit(1)
            ).first()
            if row is None:
                return None
            return LastRun(
                row.scheduled_for,
                row.started_at,
                row.finished_at,
                row.outcome,
                _interrupted(row.outcome, row.detail),
            )


def _interrupted(outcome: str, detail: str | None) -> bool:
    return outcome != "running" and (detail or "").startswith(INTERRUPTED)


# -- running -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunResult:
    returncode: int
    output: str = ""  # the last lines of the command's output
    interrupted: bool = False  # the scheduler passed a stop signal on to it


Runner = Callable[[Job, list[str]], RunResult]


class StopRequest:
    """Counts stop signals (SIGTERM, SIGINT): 1 = stop after the job, 2 = pass SIGTERM on
    now, 3 = SIGKILL the job."""

    def __init__(self) -> None:
        self.signals = 0
        self.first_at: float | None = None

    @property
    def requested(self) -> bool:
        return self.signals > 0

    def request(self) -> None:
        self.signals += 1
        if self.first_at is None:
            self.first_at = time_module.monotonic()

    def wait(self, seconds: float) -> None:
        """Sleeps up to `seconds`, returning soon after a stop is requested."""
        end = time_module.monotonic() + seconds
        while not self.requested:
            left = end - time_module.monotonic()
            if left <= 0:
                return
            time_module.sleep(min(left, 0.5))

    def install(self, log: Log) -> None:
        """Handle SIGTERM and SIGINT (main thread only)."""

        def handler(signum: int, _frame) -> None:
            self.request()
            name = signal.Signals(signum).name
            if self.signals == 1:
                log(f"{name} を受けました。実行中のジョブが終わりしだい停止します")
            else:
                log(f"{name} を受けました（{self.signals}回目）")

        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)


class SubprocessRunner:
    """Runs `python -m kyodo.cli ARGS` in its own process group, same environment.

    Its output goes to our standard error line by line (prefixed with the job's name) and its
    last lines are kept. Once a stop is requested the job has `grace` seconds to finish, then
    gets SIGTERM (at once on a second signal; SIGKILL on a third)."""

    def __init__(
        self,
        stop: StopRequest,
        *,
        grace: float,
        log: Log,
        echo: Callable[[str], None] | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.stop = stop
        self.grace = grace
        self.log = log
        self.echo = echo if echo is not None else _echo
        self.env = env

    def __call__(self, job: Job, argv: list[str]) -> RunResult:
        proc = subprocess.Popen(
            [sys.executable, "-m", "kyodo.cli", *argv],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            encoding="utf-8",
            errors="replace",
            env=self.env,
            process_group=0,  # a terminal's Ctrl-C reaches the scheduler only; it decides
        )
        tail: deque[str] = deque(maxlen=TAIL_LINES)
        reader = threading.Thread(target=self._read, args=(proc, job, tail), daemon=True)
        reader.start()
        sent = 0  # 0: nothing, 1: SIGTERM, 2: SIGKILL
        while True:
            try:
                returncode = proc.wait(timeout=0.2)
                break
            except subprocess.TimeoutExpired:
                pass
            want = self._signal_wanted()
            if want > sent:
                sig = signal.SIGTERM if want == 1 else signal.SIGKILL
                self.log(f"{job.name}: {sig.name} を送ります（pid {proc.pid}）")
                with contextlib.suppress(ProcessLookupError):  # it has just ended
                    os.killpg(proc.pid, sig)
                sent = want
        reader.join(timeout=5)
        return RunResult(returncode, "\n".join(tail), interrupted=sent > 0)

    def _signal_wanted(self) -> int:
        stop = self.stop
        if not stop.requested:
            return 0
        if stop.signals >= 3:
            return 2
        waited = time_module.monotonic() - (stop.first_at or 0.0)
        return 1 if stop.signals == 2 or waited >= self.grace else 0

    def _read(self, proc: subprocess.Popen, job: Job, tail: deque[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            line = line.rstrip("\n")
            tail.append(line)
            self.echo(f"[{job.name}] {line}")


def _echo(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def stderr_log(tz: ZoneInfo | None = None) -> Log:
    """A log writing one line to standard error, stamped with the time in `tz` (journald adds
    its own stamp, but a log file or a container's log has none)."""

    def log(message: str) -> None:
        stamp = datetime.now(tz).astimezone(tz).strftime("%Y-%m-%d %H:%M:%S%z")
        print(f"{stamp} kyodo schedule: {message}", file=sys.stderr, flush=True)

    return log


# -- the scheduler -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Ran:
    """What one run was: for the log and for tests."""

    job: str
    slot: datetime
    outcome: str
    returncode: int | None
    interrupted: bool
    argv: list[str] = field(default_factory=list)


class Scheduler:
    """Runs due jobs one at a time. The clock, the runner and the log are given, so the loop
    can be driven by a test's clock as well as by the real one."""

    def __init__(
        self,
        jobs: Iterable[Job],
        store: RunStore,
        runner: Runner,
        *,
        clock: Clock = system_clock,
        log: Log | None = None,
    ) -> None:
        self.jobs = [job for job in jobs if job.enabled]
        self.store = store
        self.runner = runner
        self.clock = clock
        self.log = log or stderr_log(self.jobs[0].tz if self.jobs else None)

    def due(self, now: datetime) -> list[tuple[Job, datetime]]:
        """Jobs to run at `now` with the slot each runs for, earliest slot first."""
        found = []
        for job in self.jobs:
            slot = job.latest_slot(now)
            if job.in_window(slot, now) and not self.store.is_done(job.name, slot):
                found.append((job, slot))
        return sorted(found, key=lambda pair: (pair[1], JOB_NAMES.index(pair[0].name)))

    def run_due(self, stop: StopRequest | None = None) -> list[Ran]:
        """Runs the jobs due, earliest slot first, each at most once; stops early once a stop
        is requested. The clock is read again after each job: after a long crawl a job runs
        for its latest slot, not for the one it had when the crawl started."""
        ran: list[Ran] = []
        while stop is None or not stop.requested:
            done = {run.job for run in ran}
            due = [(job, slot) for job, slot in self.due(self.clock()) if job.name not in done]
            if not due:
                break
            ran.append(self.run_job(*due[0]))
        return ran

    def run_job(self, job: Job, slot: datetime) -> Ran:
        started = self.clock()
        argv = job.argv(started)
        run_id = self.store.start(job.name, slot, started)
        self.log(
            f"{job.name} を開始します（{format_time(slot, job.tz)} の分）: kyodo "
            + shlex.join(argv)
        )
        try:
            result = self.runner(job, argv)
        except Exception as exc:  # a job that cannot start must not stop the others
            result = RunResult(-1, f"起動できませんでした: {type(exc).__name__}: {exc}")
        finished = self.clock()
        outcome = "ok" if result.returncode == 0 else "failed"
        detail = result.output[-TAIL_CHARS:]
        if result.interrupted:
            detail = f"{INTERRUPTED}\n{detail}"
        self.store.finish(run_id, outcome, detail, finished)
        seconds = (finished - started).total_seconds()
        words = {"ok": "成功", "failed": "失敗"}[outcome] + ("・中断" if result.interrupted else "")
        self.log(
            f"{job.name} が終わりました: {words} (exit {result.returncode}, "
            f"{format_duration(seconds)})"
        )
        return Ran(job.name, slot, outcome, result.returncode, result.interrupted, argv)

    def next_wake(self, now: datetime) -> datetime:
        return min(job.next_slot(now) for job in self.jobs)

    def run_forever(self, stop: StopRequest, wait: Callable[[float], None] | None = None) -> None:
        """Runs due jobs as their times come, until a stop is requested."""
        wait = wait or stop.wait
        if not self.jobs:
            raise ScheduleError("すべてのジョブが off です (every job is off)")
        stale = self.store.close_stale(self.clock())
        if stale:
            self.log(f"前回の停止で中断されていた実行 {stale}件を記録しました")
        self.log("起動しました: " + "、".join(f"{job.name} {job.when()}" for job in self.jobs))
        while not stop.requested:
            try:
                self.run_due(stop)
            except SQLAlchemyError as exc:
                self.log(f"データベースのエラーです。1分後にやり直します: {exc}")
                wait(MAX_SLEEP)
                continue
            if stop.requested:
                break
            now = self.clock()
            seconds = (self.next_wake(now) - now).total_seconds()
            wait(min(max(seconds, 0.0), MAX_SLEEP))
        self.log("停止しました")


# -- kyodo schedule --list ---------------------------------------------------------------------


def format_time(moment: datetime, tz: ZoneInfo) -> str:
    local = moment.astimezone(tz)
    return f"{local:%Y-%m-%d}({WEEKDAYS[local.weekday()]}) {local:%H:%M}"


def format_duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f}秒"
    minutes, rest = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}分{rest}秒"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}時間{minutes}分"


def list_lines(jobs: list[Job], store: RunStore, now: datetime) -> list[str]:
    """Each job's next run and last run, for staff (`kyodo schedule --list`)."""
    tz = jobs[0].tz
    lines = [f"時刻は {tz.key} です（現在 {format_time(now, tz)}）。"]
    for job in jobs:
        lines.append(f"{job.name}: {job.label}・{job.when()}")
        if job.enabled:
            slot = job.latest_slot(now)
            if job.in_window(slot, now) and not store.is_done(job.name, slot):
                lines.append(f"  次回: 今すぐ（{format_time(slot, tz)} の分がまだです）")
            else:
                lines.append(f"  次回: {format_time(job.next_slot(now), tz)}")
        last = store.last_run(job.name)
        lines.append(f"  前回: {_describe_run(last, tz)}")
    return lines


def _describe_run(run: LastRun | None, tz: ZoneInfo) -> str:
    if run is None:
        return "まだありません"
    started = format_time(run.started_at, tz)
    if run.outcome == "running":
        return f"実行中（{started} 開始、{format_time(run.scheduled_for, tz)} の分）"
    words = {"ok": "成功", "failed": "失敗"}.get(run.outcome, run.outcome)
    if run.interrupted:
        words += "・中断"
    took = ""
    if run.finished_at is not None:
        took = f"、{format_duration((run.finished_at - run.started_at).total_seconds())}"
    return f"{words}（{started} 開始{took}、{format_time(run.scheduled_for, tz)} の分）"
