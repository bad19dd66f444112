"""Check a built HTML site: no broken local links or images, and every page opens in headless
Chromium with no console error, no uncaught exception, no failed request and no broken image.

:func:`broken_links` reads the files (every ``href`` and ``src`` that points into the site
must name an existing file, and an ``#anchor`` an element of that page);
:class:`Browser` drives Debian's ``chromium`` over the DevTools protocol on a pipe (no
package beyond the standard library), loading each page from a local HTTP server and taking
screenshots. ``make docs`` runs both through ``docs/build.py``.
"""

import base64
import fcntl
import functools
import http.server
import json
import os
import select
import shutil
import subprocess
import threading
import time
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

#: JavaScript run on each loaded page: the sources of the images that fail to decode (lazy
#: images are made eager first, so that every one is fetched).
BROKEN_IMAGES_JS = """Promise.all([...document.images].map(image => {
  image.loading = "eager";
  return image.decode().then(() => null, () => image.currentSrc || image.src);
})).then(sources => sources.filter(source => source !== null))"""


class _Refs(HTMLParser):
    """The link targets and element ids of one HTML page."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.targets: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for key in ("id", "name") if tag == "a" else ("id",):
            if attrs.get(key):
                self.ids.add(attrs[key])
        for key in ("href", "src"):
            if attrs.get(key) and not (tag == "link" and attrs.get("rel") == "preconnect"):
                self.targets.append(attrs[key])


@functools.cache
def _parse(path: Path) -> _Refs:
    refs = _Refs()
    refs.feed(path.read_text(encoding="utf-8", errors="replace"))
    return refs


def html_pages(root: Path) -> list[Path]:
    """The pages under ``root`` (sorted): its HTML files outside ``_sources`` and ``_static``
    (Sphinx's copies of the sources, and the theme's templates)."""
    return sorted(p for p in root.rglob("*.html")
                  if not {"_sources", "_static"} & set(p.relative_to(root).parts))


def broken_links(root: Path) -> list[str]:
    """``"page: target"`` for every local link or resource of the site's pages that names a
    missing file or a missing anchor (external ``http(s)``, ``mailto:`` and ``data:`` targets
    are not followed)."""
    _parse.cache_clear()
    root = root.resolve()
    problems = []
    for page in html_pages(root):
        for target in _parse(page).targets:
            problem = _check_target(root, page, target)
            if problem:
                problems.append(f"{page.relative_to(root)}: {target} ({problem})")
    return problems


def _check_target(root: Path, page: Path, target: str) -> str | None:
    """Why ``target`` (a link of ``page``) is broken, or None when it is fine or external."""
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or target.startswith("javascript:"):
        return None
    path = page if not parts.path else (page.parent / unquote(parts.path)).resolve()
    if path.is_dir():
        path = path / "index.html"
    if not path.is_relative_to(root):
        return "outside the site"
    if not path.is_file():
        return "no such file"
    if parts.fragment and path.suffix == ".html" and unquote(parts.fragment) not in \
            _parse(path).ids:
        return "no such anchor"
    return None


def find_chromium() -> str | None:
    """The headless Chromium to use: ``$CHROMIUM``, else ``chromium`` on the PATH."""
    return os.environ.get("CHROMIUM") or shutil.which("chromium") or \
        shutil.which("chromium-browser")


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 (the base class's signature)
        pass


def serve(root: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    """Serve ``root`` on a free local port in a background thread; the server and its URL."""
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


def _high_fd(fd: int) -> int:
    """A copy of ``fd`` numbered 10 or more (closing ``fd``)."""
    high = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
    os.close(fd)
    return high


class Browser:
    """Headless Chromium driven over the DevTools protocol on a pipe (file descriptors 3 and
    4 of the browser process); one tab, console and network events collected per page."""

    def __init__(self, executable: str, width: int = 1280, height: int = 900,
                 timeout: float = 30.0):
        self.timeout = timeout
        to_browser, self._send_fd = os.pipe()
        self._recv_fd, from_browser = os.pipe()
        ends = [_high_fd(to_browser), _high_fd(from_browser)]  # the browser's 3 and 4
        # bash puts them at 3 and 4 (they are >= 10, so no redirection clobbers one).
        redirect = f'exec "$@" 3<&{ends[0]} 4>&{ends[1]} {ends[0]}<&- {ends[1]}>&-'
        self._process = subprocess.Popen(
            ["bash", "-c", redirect, "bash", executable, "--headless", "--no-sandbox",
             "--disable-gpu", "--no-first-run", "--remote-debugging-pipe",
             "--hide-scrollbars", "about:blank"],
            pass_fds=ends, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for fd in ends:
            os.close(fd)
        self._buffer = b""
        self._next_id = 0
        self._events: list[dict] = []
        target = self._call("Target.createTarget", {"url": "about:blank"})["targetId"]
        self._session = self._call("Target.attachToTarget",
                                   {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self._call(f"{domain}.enable", session=True)
        self._call("Emulation.setDeviceMetricsOverride", {
            "width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
            session=True)

    def __enter__(self) -> "Browser":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """End the browser process and close the pipe."""
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        os.close(self._send_fd)
        os.close(self._recv_fd)

    def _read_message(self, deadline: float) -> dict:
        while b"\0" not in self._buffer:
            wait = deadline - time.monotonic()
            if wait <= 0 or not select.select([self._recv_fd], [], [], wait)[0]:
                raise TimeoutError("headless Chromium did not answer in time")
            chunk = os.read(self._recv_fd, 1 << 20)
            if not chunk:
                raise RuntimeError("headless Chromium closed the pipe")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def _call(self, method: str, params: dict | None = None, session: bool = False) -> dict:
        """Send one command and return its result; events read meanwhile are kept."""
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = self._session
        os.write(self._send_fd, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + self.timeout
        while True:
            reply = self._read_message(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error'].get('message')}")
                return reply.get("result", {})
            self._events.append(reply)

    def _wait_for_load(self, quiet: float = 0.5) -> None:
        """Wait for the page's load event, then until no message came for ``quiet`` seconds
        (scripts that fetch more, such as MathJax's fonts, have finished)."""
        deadline = time.monotonic() + self.timeout
        while not any(e.get("method") == "Page.loadEventFired" for e in self._events):
            self._events.append(self._read_message(deadline))
        while True:
            try:
                self._events.append(self._read_message(min(deadline, time.monotonic() + quiet)))
            except TimeoutError:
                if time.monotonic() >= deadline:
                    raise
                return

    def open(self, url: str) -> list[str]:
        """Load ``url`` and return its problems: console errors, uncaught exceptions, failed
        or 4xx/5xx requests, and images that do not decode."""
        self._events = []
        self._call("Page.navigate", {"url": url}, session=True)
        self._wait_for_load()
        result = self._call("Runtime.evaluate", {"expression": BROKEN_IMAGES_JS,
                                                 "awaitPromise": True, "returnByValue": True},
                            session=True)
        problems = [f"broken image {src}" for src in result["result"].get("value", [])]
        return problems + [p for p in map(describe_event, self._events) if p]

    def screenshot(self, path: Path, selector: str | None = None) -> None:
        """Write a PNG of the visible part of the current page to ``path``, scrolled first to
        the first element matching the CSS ``selector`` (when given)."""
        if selector:
            element = f"document.querySelector({json.dumps(selector)})"
            self._call("Runtime.evaluate",
                       {"expression": f'{element}?.scrollIntoView({{block: "center"}})'},
                       session=True)
        data = self._call("Page.captureScreenshot", {"format": "png"}, session=True)["data"]
        path.write_bytes(base64.b64decode(data))


def describe_event(event: dict) -> str | None:
    """A line for a DevTools event that is a problem (else None)."""
    method, params = event.get("method"), event.get("params", {})
    if method == "Runtime.exceptionThrown":
        details = params["exceptionDetails"]
        text = details.get("exception", {}).get("description") or details.get("text")
        return f"uncaught exception: {text}"
    if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
        args = " ".join(str(a.get("value", a.get("description", ""))) for a in params["args"])
        return f"console.{params['type']}: {args}"
    if method == "Log.entryAdded" and params["entry"]["level"] == "error":
        entry = params["entry"]
        return f"console error: {entry.get('text')} {entry.get('url', '')}".rstrip()
    if method == "Network.loadingFailed" and not params.get("canceled"):
        return f"request failed: {params.get('errorText')} ({params.get('type')})"
    if method == "Network.responseReceived" and params["response"]["status"] >= 400:
        return f"HTTP {params['response']['status']}: {params['response']['url']}"
    return None


def check_in_browser(root: Path, executable: str,
                     screenshots: dict[str, tuple[Path, str | None]] | None = None
                     ) -> dict[str, list[str]]:
    """Open every page of the site under ``root`` in headless Chromium; page → its problems
    (pages without any are left out). ``screenshots`` maps pages (relative paths) to the PNG
    to write once the page has loaded and the CSS selector to scroll to (or None)."""
    screenshots = screenshots or {}
    server, base = serve(root)
    problems = {}
    try:
        with Browser(executable) as browser:
            for page in html_pages(root):
                name = page.relative_to(root).as_posix()
                found = browser.open(base + name)
                if found:
                    problems[name] = found
                if name in screenshots:
                    browser.screenshot(*screenshots[name])
    finally:
        server.shutdown()
        server.server_close()
    return problems
