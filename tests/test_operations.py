"""docs/operations.md, run: every ```sh block of the guide is executed here with bash (or, for
the few that need root and systemd, checked against deploy/), so the guide cannot drift from
what works.

The production shape is built for real: a PostgreSQL 15 database made with the guide's
commands, two `kyodo serve` processes on two ports (one with `--workers 2`, one from
`kyodo-serve@.service`'s ExecStart) behind nginx with `deploy/web/nginx-kyodo.conf`, a jobs
host crawling the sample mirror and sending digests to a real SMTP server while both serve,
backups taken while a writer is busy, restores compared by counts, and an upgrade from an
older revision. The replacements the blocks get (paths, ports, URLs) are listed in the guide's
last section and in `Shell.replacements`.
"""

from __future__ import annotations

import asyncio
import configparser
import json
import os
import re
import shlex
import shutil
import signal
import socket
import sqlite3
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import httpx
import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from aggregator.accounts import Role, create_user
from aggregator.groups import GroupProfile, create_group
from aggregator.ingest import Ingestor
from aggregator.settings import Settings
from aggregator.storage.db import current_revision, head_revision, make_engine
from bench._pg import PostgresCluster
from spiders.mirror import SAMPLE_MIRROR, Mirror, MirrorServer
from tests.certs import self_signed
from tests.cli import kyodo

REPO = Path(__file__).resolve().parents[1]
GUIDE = REPO / "docs" / "operations.md"
DEPLOY = REPO / "deploy"
VENV = Path(sys.executable).parent.parent
NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)

STAFF, PASSWORD = "center@kyodo.example.jp", "correct-horse-42"  # the guide's staff account
SITE_URL = "https://kyodo.example.jp"
BACKUP_EXAMPLE = re.compile(r"/var/backups/kyodo/kyodo-\d{8}-\d{6}\.(?:db|dump)")
_CSRF = re.compile(r'name="csrf_token" value="([0-9a-f]+)"')

# Blocks that need root and systemd, or change the installation: checked against deploy/ and
# scripts/ by test_blocks_not_run_name_files_that_exist (and the units by systemd-analyze).
NOT_RUN = {
    "serve-units",
    "nginx-install",
    "backup-timer",
    "stop-all",
    "start-all",
    "logs-journal",
    "install",
}
# Every other block is run by bash (or, for `serve-workers`, started and served from);
# `every_run_block_ran` checks at the end of the module that each one was.
RUN = {
    "shell",
    "pg-create",
    "secret",
    "upgrade-first",
    "staff",
    "serve-workers",
    "web-check",
    "jobs-check",
    "digest-now",
    "logs-kyodo",
    "backup",
    "backup-sqlite-tool",
    "backup-pg-tool",
    "monitor",
    "restore-pg-aside",
    "restore-sqlite-aside",
    "restore-pg",
    "restore-sqlite",
    "restore-pg-tool",
    "restore-sqlite-tool",
    "upgrade",
}
_RAN: set[str] = set()


@pytest.fixture(scope="module", autouse=True)
def every_run_block_ran(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    session = request.session
    selected = {item.originalname for item in session.items if item.path == Path(__file__)}
    tests = {name for name in globals() if name.startswith("test_")}
    if selected == tests and session.testsfailed == 0 and NGINX is not None:
        assert _RAN == RUN, f"blocks never run: {sorted(RUN - _RAN)}"


def guide_blocks() -> dict[str, str]:
    """The guide's ```sh blocks by the name in the `<!-- test: NAME -->` line above each."""
    text_ = GUIDE.read_text(encoding="utf-8")
    named = re.findall(r"^<!-- test: ([\w-]+) -->\n```sh\n(.*?)^```$", text_, re.M | re.S)
    blocks: dict[str, str] = {}
    for name, body in named:
        assert name not in blocks, f"two blocks named {name}"
        blocks[name] = body
    assert len(re.findall(r"^```sh$", text_, re.M)) == len(blocks), "a ```sh block has no name"
    return blocks


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Shell:
    """Runs the guide's blocks with bash, as the kyodo user on a host would, with the
    test's paths, ports and URLs in place of the guide's."""

    env: dict[str, str]
    cwd: Path
    replacements: list[tuple[str, str]]

    def script(self, name: str, backup: Path | None = None) -> str:
        _RAN.add(name)
        body = guide_blocks()[name]
        if backup is not None:
            assert BACKUP_EXAMPLE.search(body), name
            body = BACKUP_EXAMPLE.sub(str(backup), body)
        for old, new in self.replacements:
            body = body.replace(old, new)
        return body

    def run(
        self, name: str, *, backup: Path | None = None, input: str | None = None, ok: bool = True
    ) -> subprocess.CompletedProcess[str]:
        script = self.script(name, backup)
        done = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script],
            env=self.env,
            cwd=self.cwd,
            input=input,
            capture_output=True,
            text=True,
            timeout=240,
            start_new_session=True,  # no terminal: password prompts read standard input
        )
        if ok:
            assert done.returncode == 0, f"{name}:\n{script}\n{done.stdout}\n{done.stderr}"
        return done


def make_shell(
    root: Path, database_url: str, *, extra: dict[str, str] | None = None
) -> tuple[Shell, dict[str, Path]]:
    """A host: /srv/kyodo, /var/backups/kyodo and /etc/kyodo/kyodo.env under `root`."""
    paths = {"srv": root / "srv", "backups": root / "backups", "envfile": root / "kyodo.env"}
    paths["srv"].mkdir(parents=True)
    settings = {
        "KYODO_DATABASE_URL": database_url,
        "KYODO_SITE_URL": SITE_URL,
        "KYODO_CRAWL_DELAY": "0",
        "KYODO_RETRY_BACKOFF": "0",
        "KYODO_CRAWL_TIMEOUT": "5",
        "KYODO_MAIL_FROM": "info@kyodo.example.jp",
        **(extra or {}),
    }
    # As deploy/kyodo.env.example asks: NAME='value', read alike by sh and systemd.
    paths["envfile"].write_text("".join(f"{k}='{v}'\n" for k, v in settings.items()))
    env = {k: v for k, v in os.environ.items() if not k.startswith("KYODO_")}
    env.update(settings)
    env["PATH"] = f"{VENV / 'bin'}:{env.get('PATH', '/usr/bin:/bin')}"
    replacements = [
        ("sudo -u postgres ", ""),
        ("sudo -u kyodo ", ""),
        ("sudo ", ""),
        ("-o kyodo -g kyodo ", ""),
        ("/var/backups/kyodo", str(paths["backups"])),
        ("/srv/kyodo", str(paths["srv"])),
        ("/etc/kyodo/kyodo.env", str(paths["envfile"])),
        ("/opt/kyodo/.venv", str(VENV)),
        ("/opt/kyodo", str(REPO)),
    ]
    return Shell(env, paths["srv"], replacements), paths


def counts_line(output: str) -> str:
    match = re.search(r"^件数: .*$", output, re.M)
    assert match, output
    return match.group(0)


def parse_counts(line: str) -> dict[str, int]:
    return {name: int(n) for name, n in re.findall(r"(\w+) (\d+)", line.removeprefix("件数: "))}


def backup_path(output: str) -> Path:
    match = re.search(r"^バックアップしました: (\S+) \(", output, re.M)
    assert match, output
    return Path(match.group(1))


# -- servers ------------------------------------------------------------------------------------


def start(command: str, shell: Shell, log: Path) -> subprocess.Popen:
    """A long-running command of the guide or a unit, in its own process group."""
    with log.open("w") as out:
        return subprocess.Popen(
            ["bash", "-c", f"exec {command}"],
            env=shell.env,
            cwd=shell.cwd,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def wait_http(url: str, proc: subprocess.Popen, log: Path, **kwargs) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"{url}: exited {proc.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(url, timeout=2, **kwargs).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    pytest.fail(f"{url} did not answer:\n{log.read_text()}")


def stop(proc: subprocess.Popen | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)  # the group: uvicorn's workers too
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def unit_exec_start(path: Path) -> str:
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.read_string(path.read_text())
    return parser["Service"]["ExecStart"]


class Browser:
    """Cookies kept by hand and sent to whichever server is asked: what one browser does with
    one site, whichever worker behind it answers."""

    def __init__(self, verify: object = True) -> None:
        self.cookies: dict[str, str] = {}
        self.verify = verify

    def request(self, method: str, url: str, **kwargs) -> httpx.Response:
        headers = dict(kwargs.pop("headers", {}))
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        response = httpx.request(
            method, url, headers=headers, timeout=30, verify=self.verify, **kwargs
        )
        for raw in response.headers.get_list("set-cookie"):
            name, _, value = raw.split(";", 1)[0].partition("=")
            if value:
                self.cookies[name] = value
            else:
                self.cookies.pop(name, None)
        return response

    def get(self, url: str, **kwargs) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def token(self, url: str) -> str:
        match = _CSRF.search(self.get(url).text)
        assert match, url
        return match.group(1)

    def sign_in(self, base: str, password: str = PASSWORD) -> httpx.Response:
        token = self.token(f"{base}/login")
        data = {"email": STAFF, "password": password, "csrf_token": token}
        return self.request("POST", f"{base}/login", data=data)


def certificate(folder: Path) -> tuple[Path, Path]:
    return self_signed(folder / "fullchain.pem", folder / "privkey.pem")


def nginx_config(folder: Path, ports: dict[str, int], cert: Path, key: Path) -> Path:
    """deploy/web/nginx-kyodo.conf with the test's ports, certificate and log folder, included
    in a main configuration as Debian's nginx.conf includes sites-enabled/."""
    site = (DEPLOY / "web" / "nginx-kyodo.conf").read_text()
    for old, new in [
        ("127.0.0.1:8001", f"127.0.0.1:{ports['a']}"),
        ("127.0.0.1:8002", f"127.0.0.1:{ports['b']}"),
        ("listen 80;", f"listen 127.0.0.1:{ports['http']};"),
        ("listen [::]:80;", ""),  # no IPv6 in every test machine
        ("listen 443 ssl http2;", f"listen 127.0.0.1:{ports['https']} ssl http2;"),
        ("listen [::]:443 ssl http2;", ""),
        ("/etc/letsencrypt/live/kyodo.example.jp/fullchain.pem", str(cert)),
        ("/etc/letsencrypt/live/kyodo.example.jp/privkey.pem", str(key)),
        ("/var/log/nginx/", f"{folder}/"),
        ("/var/www/html", str(folder)),
    ]:
        assert old in site, f"nginx-kyodo.conf no longer has {old!r}"
        site = site.replace(old, new)
    (folder / "kyodo.conf").write_text(site)
    temp = "\n".join(
        f"    {kind}_temp_path {folder}/{kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    main = folder / "nginx.conf"
    main.write_text(
        f"pid {folder}/nginx.pid;\nerror_log {folder}/error.log;\n"
        "events { worker_connections 64; }\n"
        f"http {{\n{temp}\n    include {folder}/kyodo.conf;\n}}\n"
    )
    return main


# -- mail ---------------------------------------------------------------------------------------


@dataclass
class Inbox:
    messages: list[tuple[list[str], bytes]] = field(default_factory=list)

    async def handle_DATA(self, server, session, envelope):
        await asyncio.sleep(0)
        self.messages.append((list(envelope.rcpt_tos), envelope.content))
        return "250 Message accepted"


@pytest.fixture(scope="module")
def smtp() -> Iterator[tuple[int, Inbox]]:
    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, inbox
    finally:
        controller.stop()


# -- the writer ---------------------------------------------------------------------------------

WRITER = """
import sys
from sqlalchemy.orm import Session
from aggregator.accounts import Role, create_user
from aggregator.groups import GroupProfile, create_group
from aggregator.storage.db import current_revision, head_revision, make_engine

engine = make_engine(sys.argv[1])
n = 0
while True:  # one group with two addresses per transaction, until SIGTERM
    with Session(engine) as session:
        create_group(session, GroupProfile(
            name=f"書き込み中の会 {n}", fields=["community_development"], prefecture="千葉県",
            municipality="鎌ケ谷市", legal_form="任意団体", members=5, founded_year=2020,
            needs=["funds"], recipients=[f"w{n}a@example.jp", f"w{n}b@example.jp"]))
        session.commit()
    n += 1
"""


def written_groups(url: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.scalar(text("SELECT count(*) FROM groups WHERE name LIKE '書き込み中%'"))
    finally:
        engine.dispose()


@dataclass
class Writer:
    """A process committing groups as fast as it can, as a busy site would write."""

    url: str
    proc: subprocess.Popen | None = None

    def __enter__(self) -> Writer:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", WRITER, self.url], cwd=REPO, stderr=subprocess.PIPE, text=True
        )
        deadline = time.monotonic() + 60
        while written_groups(self.url) < 20:  # writing for real before the backup starts
            assert self.proc.poll() is None, self.proc.stderr.read()
            assert time.monotonic() < deadline, "the writer wrote nothing"
            time.sleep(0.05)
        return self

    def busy(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def __exit__(self, *exc) -> None:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.terminate()
        self.proc.wait(timeout=20)


def consistent_groups(url: str) -> tuple[int, int]:
    """(groups the writer made, of them those without exactly their two addresses)."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            made = conn.scalar(text("SELECT count(*) FROM groups WHERE name LIKE '書き込み中%'"))
            broken = conn.scalar(
                text(
                    "SELECT count(*) FROM groups g WHERE g.name LIKE '書き込み中%' AND "
                    "(SELECT count(*) FROM group_recipients r WHERE r.group_id = g.id) <> 2"
                )
            )
    finally:
        engine.dispose()
    return made, broken


def seed(url: str, group_email: str = "seed@example.jp") -> None:
    """A few calls and a group, through kyodo's own code."""
    listings = [
        {
            "id": f"ops-{n}",
            "source": "canpan",
            "url": f"https://fields.canpan.info/grant/detail?id=ops-{n}",
            "title": f"子ども食堂応援助成 第{n}回",
            "text": f"子ども食堂の運営を助成します。\n締切: 2027年1月{10 + n}日\n"
            f"助成金額: 上限{n}0万円",
            "organizer": "運用テスト財団",
            "published": "2026-11-20",
        }
        for n in range(1, 6)
    ]
    engine = make_engine(url)
    try:
        report = Ingestor(engine, today=date(2026, 11, 29)).ingest(listings)
        assert report.rejected == 0, report.rejections
        with Session(engine) as session:
            create_group(session, group_profile(group_email))
            session.commit()
    finally:
        engine.dispose()


def group_profile(email: str) -> GroupProfile:
    return GroupProfile(
        name=f"{email} の会",
        fields=["children_youth", "health_welfare", "community_development"],
        prefecture="千葉県",
        municipality="鎌ケ谷市",
        legal_form="任意団体",
        members=20,
        founded_year=2018,
        needs=["funds"],
        recipients=[email],
    )


# -- the guide itself ---------------------------------------------------------------------------


def test_every_sh_block_is_run_or_checked() -> None:
    blocks = guide_blocks()
    assert set(blocks) == RUN | NOT_RUN
    assert not RUN & NOT_RUN
    for name, body in blocks.items():
        assert body.strip(), name
    # The guide's own list of blocks that are not run is this one.
    text_ = GUIDE.read_text(encoding="utf-8")
    listed = re.search(r"Not run, because (.*?)\. For", text_, re.S)
    assert listed and set(re.findall(r"`([\w-]+)`", listed.group(1))) == NOT_RUN


def test_blocks_not_run_name_files_that_exist(tmp_path: Path) -> None:
    blocks = guide_blocks()
    not_run = "\n".join(blocks[name] for name in NOT_RUN)
    # Every unit named by systemctl or journalctl is a file in deploy/ (templates by @).
    units = set(re.findall(r"\b(kyodo-[\w-]+(?:@[\w*]*)?(?:\.timer|\.service)?)", not_run))
    assert {"kyodo-serve@8001", "kyodo-schedule", "kyodo-backup.timer"} <= units
    files = {p.name for p in DEPLOY.rglob("kyodo-*.*")}
    for unit in units:
        base = re.sub(r"@[\w*]*", "@", unit)
        name = base if base.endswith((".service", ".timer")) else f"{base}.service"
        assert name in files, unit
    # Every file copied from /opt/kyodo exists in the repository.
    for path in re.findall(r"/opt/kyodo/([\w./@-]+)", not_run):
        if not path.startswith(".venv"):
            assert (REPO / path).exists(), path
    assert "git -C /opt/kyodo pull" in blocks["install"]
    # The nightly backup runs before the nightly crawl of kyodo schedule.
    timer = configparser.ConfigParser(interpolation=None)
    timer.read_string((DEPLOY / "backup" / "kyodo-backup.timer").read_text())
    _, at, zone = timer["Timer"]["OnCalendar"].split()
    settings = Settings()
    assert zone == settings.timezone and at < f"{settings.schedule_crawl_at:%H:%M:%S}"
    # The units pass systemd-analyze verify, with ExecStart= pointing at this kyodo.
    analyze, kyodo_bin = shutil.which("systemd-analyze"), VENV / "bin" / "kyodo"
    if analyze is None or not kyodo_bin.exists():
        pytest.skip("systemd-analyze or the kyodo script is not here; the names were checked")
    copies = []
    for path in [*(DEPLOY / "web").glob("*.service"), *(DEPLOY / "backup").glob("*.*")]:
        copy = tmp_path / path.name
        copy.write_text(path.read_text().replace("/opt/kyodo/.venv/bin/kyodo", str(kyodo_bin)))
        copies.append(str(copy))
    assert len(copies) == 3
    done = subprocess.run([analyze, "verify", "--man=no", *copies], capture_output=True, text=True)
    assert done.returncode == 0 and done.stderr.strip() == "", done.stderr


# -- PostgreSQL: web hosts and a jobs host over one database ------------------------------------


@dataclass
class Deployment:
    shell: Shell
    paths: dict[str, Path]
    ports: dict[str, int]
    url: str  # KYODO_DATABASE_URL
    logs: Path
    procs: dict[str, subprocess.Popen | None] = field(default_factory=dict)
    ca: Path | None = None

    def base(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    @property
    def site(self) -> str:
        """What the guide calls https://kyodo.example.jp: nginx, or worker A without nginx."""
        if self.procs.get("nginx") is None:
            return self.base("a")
        return f"https://127.0.0.1:{self.ports['https']}"

    def start_a(self, wait: bool = True) -> None:
        """The guide's single instance with several workers."""
        [command] = self.shell.script("serve-workers").strip().splitlines()
        self._start("a", command, wait)

    def start_b(self, wait: bool = True) -> None:
        """An instance of deploy/web/kyodo-serve@.service, as systemd would start it."""
        command = unit_exec_start(DEPLOY / "web" / "kyodo-serve@.service")
        command = command.replace("/opt/kyodo/.venv", str(VENV)).replace("%i", str(self.ports["b"]))
        self._start("b", command, wait)

    def _start(self, name: str, command: str, wait: bool) -> None:
        self.procs[name] = start(command, self.shell, self.logs / f"serve-{name}.log")
        if wait:
            self.wait(name)

    def wait(self, name: str) -> None:
        log = self.logs / f"serve-{name}.log"
        wait_http(f"{self.base(name)}/api/v1/calls?per_page=1", self.procs[name], log)

    def stop(self, name: str) -> None:
        stop(self.procs.get(name))
        self.procs[name] = None

    def psql(self, sql: str) -> str:
        done = subprocess.run(
            ["psql", "-X", "-At", "-v", "ON_ERROR_STOP=1", "-d", "postgres", "-c", sql],
            env=self.shell.env,
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()


@pytest.fixture(scope="module")
def deployment(
    pg_cluster: PostgresCluster, smtp: tuple[int, Inbox], tmp_path_factory
) -> Iterator[Deployment]:
    root = tmp_path_factory.mktemp("ops-pg")
    socket_dir, port = pg_cluster.base, pg_cluster.port
    url = f"postgresql+psycopg://kyodo@/kyodo?host={socket_dir}&port={port}"
    smtp_settings = {"KYODO_SMTP_HOST": "127.0.0.1", "KYODO_SMTP_PORT": str(smtp[0])}
    shell, paths = make_shell(root, url, extra=smtp_settings)
    shell.env.update({"PGHOST": str(socket_dir), "PGPORT": str(port), "PGUSER": "postgres"})
    ports = {name: free_port() for name in ("a", "b", "c", "http", "https")}
    logs = root / "logs"
    logs.mkdir()
    shell.replacements += [("8001", str(ports["a"])), ("8002", str(ports["b"]))]
    deployment = Deployment(shell, paths, ports, url, logs)
    try:
        created = shell.run("pg-create", input="kyodo-db-password\n" * 2)
        assert created.stdout.strip() == "C.UTF-8"
        upgraded = shell.run("upgrade-first")
        assert "データベースを更新しました" in upgraded.stdout and "(新規 → " in upgraded.stdout
        deployment.start_a(wait=False)  # both start while the staff account is made
        deployment.start_b(wait=False)
        staff = shell.run("staff", input=f"{PASSWORD}\n{PASSWORD}\n")
        assert f"センター職員のアカウントを作成しました: {STAFF}" in staff.stdout
        deployment.wait("a")
        deployment.wait("b")
        if NGINX is not None:
            web = root / "nginx"
            web.mkdir()
            cert, key = certificate(web)
            main = nginx_config(web, ports, cert, key)
            base = [NGINX, "-p", str(web), "-c", str(main), "-e", str(web / "error.log")]
            checked = subprocess.run([*base, "-t"], capture_output=True, text=True)
            assert checked.returncode == 0, checked.stderr  # the guide's `nginx -t`
            log = logs / "nginx.log"
            deployment.procs["nginx"] = proc = start(
                shlex.join([*base, "-g", "daemon off;"]), shell, log
            )
            deployment.ca = cert
            shell.env["CURL_CA_BUNDLE"] = str(cert)
            trusted = ssl.create_default_context(cafile=cert)
            wait_http(f"{deployment.site}/api/v1/calls?per_page=1", proc, log, verify=trusted)
        shell.replacements.append((SITE_URL, deployment.site))
        yield deployment
    finally:
        for name in list(deployment.procs):
            deployment.stop(name)
        for name in ("kyodo", "kyodo_broken"):
            deployment.psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        deployment.psql("DROP ROLE IF EXISTS kyodo")


def test_web_host_workers_share_sessions_and_writes(deployment: Deployment) -> None:
    shell, a, b = deployment.shell, deployment.base("a"), deployment.base("b")
    version = shell.run("shell")
    assert version.stdout.startswith("kyodo, version")
    key = shell.run("secret").stdout.strip()
    assert re.fullmatch(r"[0-9a-f]{64}", key)
    health = [json.loads(line) for line in shell.run("web-check").stdout.split()]
    assert len(health) == 2, health
    assert all(h["status"] == "ok" and h["search_index"] in ("loading", "ready") for h in health)

    # `--workers 2`: uvicorn's main process and two workers serving one port.
    main = deployment.procs["a"].pid
    workers = _workers(main)
    assert len(workers) == 2, workers

    # Signed in through A, recognised by B: the session is a row of the database.
    browser = Browser()
    assert browser.sign_in(a).status_code == 303
    assert "kyodo_session" in browser.cookies
    staff_page = browser.get(f"{b}/staff")
    assert staff_page.status_code == 200 and "ログアウト" in staff_page.text
    assert Browser().get(f"{b}/staff").status_code == 303  # not signed in: to the sign-in page

    # A write through B, with the form's token from a page of A (one key, in the database).
    token = browser.token(f"{a}/staff/groups/new")
    form = [
        ("name", "くぬぎ山を守る会"),
        ("fields", "environment"),
        ("fields", "children_youth"),
        ("prefecture", "千葉県"),
        ("municipality", "鎌ケ谷市"),
        ("legal_form", "任意団体"),
        ("members", "12"),
        ("founded_year", "2010"),
        ("recipients", "kunugi@example.jp"),
        ("csrf_token", token),
    ]
    saved = browser.request("POST", f"{b}/staff/groups/new", data=_form(form))
    assert saved.status_code == 303, saved.text
    # … read through A.
    group_page = browser.get(a + saved.headers["location"])
    assert group_page.status_code == 200 and "くぬぎ山を守る会" in group_page.text
    assert "くぬぎ山を守る会" in browser.get(f"{a}/staff/groups").text

    # A worker with another KYODO_SECRET_KEY refuses A's forms, as the guide warns; the
    # session itself is still good there.
    log = deployment.logs / "serve-c.log"
    port_c = deployment.ports["c"]
    other = start(
        f"kyodo serve --host 127.0.0.1 --port {port_c}",
        Shell({**shell.env, "KYODO_SECRET_KEY": key}, shell.cwd, []),
        log,
    )
    try:
        c = f"http://127.0.0.1:{port_c}"
        wait_http(f"{c}/api/v1/calls?per_page=1", other, log)
        assert browser.get(f"{c}/staff").status_code == 200
        token = browser.token(f"{a}/staff/groups/new")
        refused = browser.request(
            "POST", f"{c}/staff/groups/new", data=_form([*form[:-1], ("csrf_token", token)])
        )
        assert refused.status_code == 403 and "フォームの有効期限が切れました" in refused.text
    finally:
        stop(other)

    # A worker that dies is replaced, and the instance answers meanwhile.
    os.kill(int(workers[0]), signal.SIGKILL)
    deadline = time.monotonic() + 30
    while len(now := _workers(main)) != 2 or workers[0] in now:
        assert time.monotonic() < deadline, f"no new worker: {now}"
        assert httpx.get(f"{a}/api/v1/calls?per_page=1", timeout=30).status_code == 200
        time.sleep(0.2)

    # kyodo serve logs no line per request (nginx does): only its start line here.
    serve_log = (deployment.logs / "serve-b.log").read_text()
    assert "を配信します" in serve_log and "GET /" not in serve_log


def _workers(main: int) -> list[str]:
    """uvicorn's worker processes under its main process `main`."""
    children = Path(f"/proc/{main}/task/{main}/children").read_text().split()
    return [pid for pid in children if "spawn_main" in _cmdline(pid)]


def _cmdline(pid: str) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _form(pairs: list[tuple[str, str]]) -> dict[str, list[str]]:
    data: dict[str, list[str]] = {}
    for key, value in pairs:
        data.setdefault(key, []).append(value)
    return data


@pytest.mark.skipif(NGINX is None, reason="nginx is not installed (scripts/test.sh installs it)")
def test_nginx_shares_the_workers_and_records_the_real_address(deployment: Deployment) -> None:
    site, verify = deployment.site, ssl.create_default_context(cafile=deployment.ca)
    # HTTP goes to HTTPS.
    plain = httpx.get(f"http://127.0.0.1:{deployment.ports['http']}/calls", timeout=10)
    assert plain.status_code == 301 and plain.headers["location"].startswith("https://")

    # Signed in over HTTPS through nginx: Secure cookies (KYODO_SITE_URL is https).
    browser = Browser(verify=verify)
    signed_in = browser.sign_in(site)
    assert signed_in.status_code == 303
    assert "Secure" in signed_in.headers["set-cookie"]
    assert browser.get(f"{site}/staff").status_code == 200

    # A failed sign-in with a forged X-Forwarded-For counts against the real address.
    stranger = Browser(verify=verify)
    token = stranger.token(f"{site}/login")
    wrong = {"email": STAFF, "password": "wrong-password", "csrf_token": token}
    forged = {"X-Forwarded-For": "203.0.113.9"}
    assert stranger.request("POST", f"{site}/login", data=wrong, headers=forged).status_code < 500
    engine = create_engine(deployment.url)
    try:
        with engine.connect() as conn:
            keys = set(conn.scalars(text("SELECT key FROM signin_failures")))
    finally:
        engine.dispose()
    assert "ip:127.0.0.1" in keys and not any("203.0.113.9" in k for k in keys)

    # One instance down (a restart, an upgrade): nginx sends every request to the other.
    deployment.stop("b")
    try:
        for _ in range(12):
            assert browser.get(f"{site}/staff").status_code == 200
            assert browser.get(f"{site}/api/v1/calls?per_page=1").status_code == 200
    finally:
        deployment.start_b()
    access = (deployment.logs.parent / "nginx" / "kyodo.access.log").read_text()
    assert '"GET /staff HTTP/' in access and '"POST /login HTTP/' in access


class Poller(threading.Thread):
    """Asks both web processes for pages and API answers until told to stop."""

    def __init__(self, bases: list[str]) -> None:
        super().__init__(daemon=True)
        self.bases = bases
        self.answers: list[int | str] = []
        self.done = threading.Event()

    def run(self) -> None:
        paths = ["/api/v1/calls?status=all&per_page=20", "/?q=子ども&status=all"]
        with httpx.Client(timeout=30) as client:
            n = 0
            while not self.done.is_set():
                url = self.bases[n % len(self.bases)] + paths[n // len(self.bases) % 2]
                try:
                    self.answers.append(client.get(url).status_code)
                except httpx.HTTPError as exc:
                    self.answers.append(repr(exc))
                n += 1
                self.done.wait(0.05)


def test_jobs_host_crawls_and_sends_while_the_web_serves(
    deployment: Deployment, smtp: tuple[int, Inbox]
) -> None:
    shell, inbox = deployment.shell, smtp[1]
    engine = make_engine(deployment.url)
    with Session(engine) as session:
        create_group(session, group_profile("jobs@example.jp"))
        session.commit()
    engine.dispose()
    received_before = len(inbox.messages)

    poller = Poller([deployment.base("a"), deployment.base("b")])
    with MirrorServer(Mirror.from_folder(SAMPLE_MIRROR)) as mirror:
        crawl = ("kyodo crawl --all", f"kyodo crawl --all --base-url {mirror.url}")
        shell.replacements.append(crawl)
        poller.start()
        try:
            jobs = shell.run("jobs-check")
        finally:
            poller.done.set()
            poller.join()
            shell.replacements.remove(crawl)
        assert len(mirror.mirror.requests) > 10
    # The web answered every request while the crawl wrote.
    assert len(poller.answers) >= 10 and set(poller.answers) == {200}, poller.answers[:20]
    assert "送信済み (sent)" in jobs.stdout and "最終収集" in jobs.stdout
    emls = list((shell.cwd / "digest-check").glob("*.eml"))
    assert any("jobs@example.jp" in p.read_text(errors="replace") for p in emls), emls
    assert len(inbox.messages) == received_before  # the dry run sent nothing

    # Both workers see the crawl's calls.
    totals = {
        httpx.get(f"{deployment.base(n)}/api/v1/calls?status=all", timeout=30).json()["total"]
        for n in ("a", "b")
    }
    assert len(totals) == 1 and totals.pop() > 20

    sent = shell.run("digest-now")
    assert re.search(r"新たに作成 [1-9]\d*通", sent.stdout), sent.stdout
    assert "次回:" in sent.stdout  # kyodo schedule --list reads the same database
    assert ["jobs@example.jp"] in [to for to, _ in inbox.messages[received_before:]]
    again = kyodo("digest", "send", "--due", env=shell.env, cwd=shell.cwd)
    assert "新たに作成 0通" in again.stdout  # the same week again: nothing twice

    logs = shell.run("logs-kyodo")
    assert re.search(r"^送信済み \(sent\): [1-9]", logs.stdout, re.M)
    assert "失敗 (failed): 0" in logs.stdout


def test_postgres_backup_while_writing_then_restore(deployment: Deployment) -> None:
    shell = deployment.shell
    before_any = shell.run("monitor")
    assert before_any.stdout == "no backup in the last 2 days\n"  # it sees there is none

    browser = Browser()  # a user signed in before the backup
    assert browser.sign_in(deployment.base("a")).status_code == 303

    with Writer(deployment.url) as writer:
        before = written_groups(deployment.url)
        made = shell.run("backup")
        assert writer.busy()
        shell.run("backup-pg-tool")
        assert writer.busy()
    after = written_groups(deployment.url)
    dump, counts = backup_path(made.stdout), counts_line(made.stdout)
    assert dump.parent == deployment.paths["backups"] and dump.suffix == ".dump"
    assert oct(dump.stat().st_mode & 0o777) == "0o600"
    assert oct(deployment.paths["backups"].stat().st_mode & 0o777) == "0o700"
    assert (deployment.paths["backups"] / "kyodo-manual.dump").stat().st_size > 0
    assert shell.run("monitor").stdout == ""  # all is well: nothing to mail

    # Stop the web (the guide's stop-all), move the database aside, restore.
    for name in ("a", "b", "nginx"):
        deployment.stop(name)
    shell.run("restore-pg-aside")
    restored = shell.run("restore-pg", backup=dump)
    deployment.start_b(wait=False)
    # The counts pg_dump's snapshot had, the writer's groups whole, none half-made.
    assert counts_line(restored.stdout) == counts
    assert "revision 0" in restored.stdout and "古い版" not in restored.stdout
    made_groups, broken = consistent_groups(deployment.url)
    assert before <= made_groups <= after and broken == 0
    assert parse_counts(counts)["groups"] == made_groups + _other_groups(deployment.url)
    assert table_counts(deployment.url) == parse_counts(counts)

    # Back up and running: the user signed in before the backup is still signed in.
    deployment.wait("b")
    assert browser.get(f"{deployment.base('b')}/staff").status_code == 200
    deployment.stop("b")

    # The database's own tools, into a new empty database again.
    deployment.psql("DROP DATABASE kyodo_broken WITH (FORCE)")
    shell.run("restore-pg-aside")
    tool = shell.run("restore-pg-tool")
    assert int(tool.stdout.split()[-1]) == parse_counts(counts)["calls"]
    assert current_revision(deployment.url) == head_revision()
    # kyodo db restore never overwrites: the database is not empty now.
    refused = kyodo("db", "restore", str(dump), env=shell.env, cwd=shell.cwd)
    assert refused.returncode == 1 and "上書きはしません" in refused.stderr


def _other_groups(url: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.scalar(
                text("SELECT count(*) FROM groups WHERE name NOT LIKE '書き込み中%'")
            )
    finally:
        engine.dispose()


# -- SQLite: one machine ------------------------------------------------------------------------


def test_sqlite_backup_while_writing_then_restore(tmp_path: Path) -> None:
    if shutil.which("sqlite3") is None:
        pytest.fail("the guide's sqlite3 command is missing: Debian's sqlite3 (scripts/test.sh)")
    database = tmp_path / "srv" / "kyodo.db"
    shell, paths = make_shell(tmp_path, f"sqlite:///{database}")
    shell.run("upgrade-first")
    seed(shell.env["KYODO_DATABASE_URL"])
    url = shell.env["KYODO_DATABASE_URL"]

    with Writer(url) as writer:
        before = written_groups(url)
        made = shell.run("backup")
        assert writer.busy()
        tool = shell.run("backup-sqlite-tool")
        assert writer.busy()
        # The nightly unit's command, as systemd runs it.
        command = unit_exec_start(DEPLOY / "backup" / "kyodo-backup.service")
        for old, new in shell.replacements:
            command = command.replace(old, new)
        nightly = subprocess.run(
            shlex.split(command), env=shell.env, cwd=shell.cwd, capture_output=True, text=True
        )
        assert nightly.returncode == 0, nightly.stderr
        assert writer.busy()
    after = written_groups(url)
    assert tool.stdout.strip() == "ok"  # integrity_check of sqlite3's copy

    copy = backup_path(made.stdout)
    assert copy.suffix == ".db" and oct(copy.stat().st_mode & 0o777) == "0o600"
    assert not Path(f"{copy}-wal").exists()  # one self-contained file
    manual = paths["backups"] / "kyodo-manual.db"
    for backup in (copy, manual, backup_path(nightly.stdout)):
        made_groups, broken = consistent_groups(f"sqlite:///{backup}")
        assert before <= made_groups <= after and broken == 0, backup
        with closing(sqlite3.connect(backup)) as conn:
            assert conn.execute("PRAGMA foreign_key_check").fetchall() == []

    shell.run("restore-sqlite-aside")
    assert not database.exists() and (paths["srv"] / "broken" / "kyodo.db").exists()
    restored = shell.run("restore-sqlite", backup=copy)
    assert counts_line(restored.stdout) == counts_line(made.stdout)
    assert parse_counts(counts_line(made.stdout))["calls"] == 5
    refused = kyodo("db", "restore", str(copy), env=shell.env, cwd=shell.cwd)
    assert refused.returncode == 1 and "上書きはしません" in refused.stderr

    # The database's own tools.
    shutil.rmtree(paths["srv"] / "broken")
    shell.run("restore-sqlite-aside")
    assert shell.run("restore-sqlite-tool").stdout.strip() == "5"
    current = kyodo("db", "current", env=shell.env, cwd=shell.cwd)
    assert current.returncode == 0, current.stdout

    # --keep counts only kyodo's dated files: the two above (14 kept), then the newest one.
    folder = paths["backups"]
    dated = {copy.name, backup_path(nightly.stdout).name}
    assert {p.name for p in folder.glob("kyodo-2*")} == dated
    pruned = kyodo("db", "backup", str(folder), "--keep", "1", env=shell.env, cwd=shell.cwd)
    assert pruned.returncode == 0, pruned.stderr
    assert [p.name for p in folder.glob("kyodo-2*")] == [backup_path(pruned.stdout).name]
    assert pruned.stdout.count("古いバックアップを削除しました") == 2 and manual.exists()


# -- upgrades -----------------------------------------------------------------------------------


def test_upgrade_from_an_older_revision_keeps_the_data(
    db_url: str, tmp_path: Path, pg_cluster: PostgresCluster
) -> None:
    shell, _ = make_shell(tmp_path, db_url)
    older = kyodo("db", "upgrade", "--revision", "0006", env=shell.env, cwd=shell.cwd)
    assert older.returncode == 0, older.stderr
    seed(db_url)  # what an older kyodo stored: calls, listings, a group
    with Session(engine := make_engine(db_url)) as session:
        create_user(session, STAFF, PASSWORD, Role.STAFF, confirmed=True)
        session.commit()
    engine.dispose()

    # Each command refuses the old schema; the web server does not start on it.
    refused = kyodo("serve", "--port", str(free_port()), env=shell.env, cwd=shell.cwd, timeout=60)
    assert refused.returncode == 1
    assert "先に kyodo db upgrade を実行してください" in refused.stderr

    made = shell.run("backup")  # step 2 of the guide's upgrade
    upgraded = shell.run("upgrade")  # step 4: upgrade, then kyodo db current exits 0
    assert "(0006 → " in upgraded.stdout and "head:" in upgraded.stdout
    counted = parse_counts(counts_line(made.stdout))
    assert table_counts(db_url) == counted  # every row kept
    assert (counted["calls"], counted["users"], counted["groups"]) == (5, 1, 1)

    # Going back: the backup of step 2 restores as an old schema, which upgrades again.
    fresh = pg_cluster.create_database() if "postgresql" in db_url else f"sqlite:///{tmp_path}/b.db"
    env = {**shell.env, "KYODO_DATABASE_URL": fresh}
    restored = kyodo("db", "restore", str(backup_path(made.stdout)), env=env, cwd=shell.cwd)
    assert restored.returncode == 0, restored.stderr
    assert "スキーマが古い版です（0006、" in restored.stdout
    again = kyodo("db", "upgrade", env=env, cwd=shell.cwd)
    assert again.returncode == 0 and "(0006 → " in again.stdout
    assert table_counts(fresh) == counted


def table_counts(url: str) -> dict[str, int]:
    """The row counts `kyodo db backup` prints, counted here independently."""
    names = ("calls", "listings", "users", "groups", "outbox", "source_runs")
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return {n: conn.scalar(text(f"SELECT count(*) FROM {n}")) for n in names}
    finally:
        engine.dispose()
