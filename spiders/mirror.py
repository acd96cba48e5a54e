"""A local HTTP server that serves copies of real sites at their real paths.

Used by the offline demo (`kyodo mirror`), the tests and the benchmarks. A mirror folder holds
one folder per real host (`fields.canpan.info/grant/index.html`); the host of a request is
taken from `X-Forwarded-Host` (set by kyodo's mirror middleware), else from the only host
folder there is. A host folder may hold `_routes.toml` for pages a file path cannot name:

    [[route]]
    path = "/grant/"                # the real path
    query = { page = "2" }          # optional: these query parameters must be present
    file = "grant/page2.html"       # relative to the host folder
    content_type = "text/html; charset=utf-8"   # optional
    status = 200                    # optional

Tests add routes in code (`Route`) with faults: a delay, a dropped connection, a body cut
short, a wrong charset header, a redirect.
"""

from __future__ import annotations

import contextlib
import mimetypes
import threading
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".htm": "text/html; charset=utf-8",
    ".xml": "application/rss+xml; charset=utf-8",
    ".json": "application/json; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
}
_INDEXES = ("index.html", "index.xml", "index.json", "index.htm")


@dataclass
class Route:
    """One answer of the server. `body` (bytes, or a callable returning bytes) or `file`."""

    path: str
    body: bytes | Callable[[], bytes] | None = None
    file: Path | None = None
    query: dict[str, str] = field(default_factory=dict)
    status: int = 200
    content_type: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before answering
    drop: bool = False  # close the connection without an answer
    truncate: int | None = None  # send only this many bytes of the body (Content-Length full)

    def content(self) -> bytes:
        if self.file is not None:
            return self.file.read_bytes()
        if callable(self.body):
            return self.body()
        return self.body or b""

    def type(self) -> str:
        if self.content_type:
            return self.content_type
        if self.file is not None:
            return _TYPES.get(self.file.suffix.lower()) or (
                mimetypes.guess_type(self.file.name)[0] or "application/octet-stream"
            )
        return "text/html; charset=utf-8"


class Site:
    """The routes of one host: explicit routes first, then files under `root`."""

    def __init__(self, root: Path | None = None, routes: list[Route] | None = None) -> None:
        self.root = root
        self.routes = list(routes or [])
        if root is not None and (root / "_routes.toml").exists():
            with (root / "_routes.toml").open("rb") as fh:
                spec = tomllib.load(fh)
            for entry in spec.get("route", []):
                self.routes.append(
                    Route(
                        path=entry["path"],
                        file=root / entry["file"],
                        query={k: str(v) for k, v in entry.get("query", {}).items()},
                        status=int(entry.get("status", 200)),
                        content_type=entry.get("content_type"),
                    )
                )

    def find(self, path: str, query: dict[str, str]) -> Route | None:
        best: Route | None = None
        for route in self.routes:
            if route.path != path:
                continue
            if all(query.get(k) == v for k, v in route.query.items()) and (
                best is None or len(route.query) > len(best.query)
            ):
                best = route
        if best is not None or self.root is None:
            return best
        return self._file(path)

    def _file(self, path: str) -> Route | None:
        from urllib.parse import unquote

        relative = unquote(path).lstrip("/")
        if ".." in Path(relative).parts:
            return None
        target = self.root / relative if relative else self.root
        if target.is_dir():
            for name in _INDEXES:
                if (target / name).is_file():
                    return Route(path=path, file=target / name)
            return None
        if target.is_file() and not target.name.startswith("_"):
            return Route(path=path, file=target)
        for suffix in (".html", ".xml", ".json"):
            candidate = target.with_name(target.name + suffix)
            if candidate.is_file():
                return Route(path=path, file=candidate)
        return None


class Mirror:
    """Sites by host. `Mirror.from_folder(path)` reads a mirror folder."""

    def __init__(self, sites: dict[str, Site] | None = None) -> None:
        self.sites = dict(sites or {})
        self.requests: list[tuple[str, str]] = []  # (host, path?query) served, for tests
        self.user_agents: set[str] = set()
        self._lock = threading.Lock()

    @classmethod
    def from_folder(cls, folder: Path) -> Mirror:
        return cls({p.name: Site(p) for p in sorted(folder.iterdir()) if p.is_dir()})

    def site(self, host: str | None) -> Site | None:
        if host and host in self.sites:
            return self.sites[host]
        if len(self.sites) == 1:
            return next(iter(self.sites.values()))
        return self.sites.get("*")

    def log(self, host: str, target: str, user_agent: str = "") -> None:
        with self._lock:
            self.requests.append((host, target))
            self.user_agents.add(user_agent)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        mirror = self.server.mirror
        parts = urlsplit(self.path)
        host = self.headers.get("X-Forwarded-Host") or self.headers.get("Host", "")
        mirror.log(host, self.path, self.headers.get("User-Agent", ""))
        site = mirror.site(host)
        route = site.find(parts.path or "/", dict(parse_qsl(parts.query))) if site else None
        if route is None:
            if parts.path == "/robots.txt":
                self._send(404, b"", "text/plain")
                return
            self._send(404, "ページが見つかりません".encode(), "text/plain; charset=utf-8")
            return
        if route.delay:
            time.sleep(route.delay)
        if route.drop:
            self.close_connection = True
            self.connection.close()
            return
        body = route.content()
        self._send(route.status, body, route.type(), route.headers, route.truncate)

    def _send(
        self,
        status: int,
        body: bytes,
        content_type: str,
        headers: dict[str, str] | None = None,
        truncate: int | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        if truncate is not None:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.wfile.write(body if truncate is None else body[:truncate])


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    mirror: Mirror


class MirrorServer:
    """Serves `mirror` on 127.0.0.1 in a background thread; a context manager."""

    def __init__(self, mirror: Mirror, host: str = "127.0.0.1", port: int = 0) -> None:
        self.mirror = mirror
        self._server = _Server((host, port), _Handler)
        self._server.mirror = mirror
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> MirrorServer:
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> MirrorServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


SAMPLE_MIRROR = Path(__file__).resolve().parent.parent / "samples" / "mirror"
