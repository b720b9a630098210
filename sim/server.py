"""The generic part of every fake provider: one loopback HTTP server per provider, its rate
limit, latency and switchable faults, its counters, and the `/_sim/` control routes.

A provider is a `ProviderApp` (routes + how it words its errors); `ProviderServer` runs one app
and owns everything that changes at run time, so the app modules only describe the API.
"""
from __future__ import annotations

import json
import random
import re
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, ClassVar, Iterable
from urllib.parse import parse_qs, unquote, urlsplit

from .limits import Admission, BanRule, Gate, Limiter, SlidingWindow, TokenBucket, Verdict
from .market import Market

CONTROL_PREFIX = "/_sim/"

FAULTS = ("error500", "timeout", "malformed", "html", "ban", "rate_limit", "wrong_price", "skew",
          "down")
FAULT_PARAMS = {"seconds", "retry_after", "factor", "price", "pct", "probability"}

CLOUDFLARE_PAGE = """<!DOCTYPE html>
<html lang="en-US"><head><title>Just a moment...</title>
<meta http-equiv="Content-Type" content="text/html; charset=UTF-8">
<meta name="robots" content="noindex,nofollow"></head>
<body><div class="main-wrapper" role="main"><div class="main-content">
<h1>Checking if the site connection is secure</h1>
<p>Enable JavaScript and cookies to continue</p></div></div>
<div class="footer"><span>Performance &amp; security by Cloudflare</span></div></body></html>
"""

SERVER_ERROR_PAGE = """<html>
<head><title>500 Internal Server Error</title></head>
<body><center><h1>500 Internal Server Error</h1></center><hr><center>nginx</center></body>
</html>
"""


# ---------------------------------------------------------------------------- requests/answers

@dataclass
class Request:
    """One API request as the handlers see it."""
    method: str
    path: str
    query: dict[str, str]                      # last value of each parameter
    headers: Any                               # http.client.HTTPMessage (case-insensitive)
    now: float                                 # arrival time, one clock for the whole answer
    path_params: dict[str, str] = field(default_factory=dict)
    price_factor: float = 1.0                  # wrong_price fault: multiply every price
    fixed_price: float | None = None           # wrong_price fault: every coin at this price
    usdt_usd: float | None = None              # de-peg switch: USD price of one USDT

    def arg(self, name: str, default: str | None = None) -> str | None:
        return self.query.get(name, default)

    def has(self, name: str) -> bool:
        return name in self.query


@dataclass
class Response:
    """An answer; JSON payloads are kept as objects until sent so faults can mangle them."""
    status: int = 200
    payload: Any = None                        # JSON-able object, or None when `text` is used
    text: str | None = None
    content_type: str = "application/json; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)
    rate_limited: bool = False                 # a 429/403/418 or body-level over-limit answer

    def body(self) -> bytes:
        if self.text is not None:
            return self.text.encode("utf-8")
        return json.dumps(self.payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def json_answer(payload: Any, status: int = 200, headers: dict[str, str] | None = None,
                *, content_type: str = "application/json; charset=utf-8",
                rate_limited: bool = False) -> Response:
    return Response(status, payload, None, content_type, dict(headers or {}), rate_limited)


def text_answer(text: str, status: int = 200, content_type: str = "text/plain; charset=utf-8",
                headers: dict[str, str] | None = None, *, rate_limited: bool = False) -> Response:
    return Response(status, None, text, content_type, dict(headers or {}), rate_limited)


@dataclass(frozen=True)
class Refusal:
    """Why a request is refused for rate: what the provider's answer can tell the client."""
    retry_after: float | None                  # seconds, when known
    verdict: Verdict | None = None             # the limiter's numbers, when a real limit tripped
    banned_until: float = 0.0                  # epoch seconds, for bans


@dataclass(frozen=True)
class Route:
    method: str
    template: str                              # "/api/v3/coins/{id}/ohlc"
    handler: Callable[[Request], Response]
    weight: int | Callable[[Request], int] = 1
    pattern: re.Pattern = field(init=False, compare=False)

    def __post_init__(self) -> None:
        regex = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(self.template))
        object.__setattr__(self, "pattern", re.compile(regex + r"\Z"))

    def cost(self, req: Request) -> int:
        return self.weight(req) if callable(self.weight) else self.weight


# ---------------------------------------------------------------------------- the app contract

class ProviderApp:
    """A fake provider's API: its routes, its limits, and how it words refusals and errors.

    Subclasses set the class attributes and implement `routes()`; they override the answer
    methods to match the provider's own wording.
    """
    name: ClassVar[str]                        # registry name: "binance", "alternative_me"
    env_name: ClassVar[str]                    # "<env_name>_BASE_URL"
    latency: ClassVar[float] = 0.05            # typical answer time, seconds
    server_header: ClassVar[str] = "nginx"
    ban_seconds: ClassVar[float] = 600.0       # ban length the "ban" fault uses by default
    required_fields: ClassVar[frozenset[str]] = frozenset()   # dropped by the malformed fault
    extra_headers: ClassVar[dict[str, str]] = {}

    def __init__(self, market: Market, **context: Any):
        self.market = market
        self.context = context

    # -- what subclasses describe --------------------------------------------------------------
    def routes(self) -> list[Route]:
        raise NotImplementedError

    def default_limit(self) -> tuple[Limiter, BanRule | None]:
        """The provider's documented limit (a fresh limiter each call)."""
        raise NotImplementedError

    def limit_from(self, requests: float, per_seconds: float,
                   burst: float | None = None) -> Limiter:
        """A limiter of the provider's kind for a limit set at run time."""
        default, _ = self.default_limit()
        if isinstance(default, TokenBucket):
            return TokenBucket(requests / per_seconds, burst if burst is not None else requests)
        return SlidingWindow(requests, per_seconds, count_rejected=default.count_rejected)

    # -- how the provider answers -------------------------------------------------------------
    def rate_limited(self, req: Request, refusal: Refusal) -> Response:
        headers = {}
        if refusal.retry_after is not None:
            headers["Retry-After"] = str(max(1, round(refusal.retry_after)))
        return json_answer({"error": "Too Many Requests"}, 429, headers, rate_limited=True)

    def banned(self, req: Request, refusal: Refusal) -> Response:
        return self.rate_limited(req, refusal)

    def limit_headers(self, req: Request, verdict: Verdict | None) -> dict[str, str]:
        """Rate-limit headers on every answer (most providers send none)."""
        return {}

    def not_found(self, req: Request) -> Response:
        return json_answer({"error": "Not Found"}, 404)

    def server_error(self, req: Request) -> Response:
        return text_answer(SERVER_ERROR_PAGE, 500, "text/html")

    def html_page(self, req: Request) -> Response:
        return text_answer(CLOUDFLARE_PAGE, 200, "text/html; charset=UTF-8")

    def malform(self, resp: Response) -> Response:
        """Valid JSON with the fields a client needs taken out (the "malformed" fault)."""
        if resp.payload is None:
            return resp
        resp.payload = strip_fields(resp.payload, self.required_fields)
        return resp


def strip_fields(value: Any, names: frozenset[str]) -> Any:
    """Drop `names` at any depth; cut table rows (lists of lists) to their first column."""
    if isinstance(value, dict):
        return {k: strip_fields(v, names) for k, v in value.items() if k not in names}
    if isinstance(value, list):
        if value and all(isinstance(row, list) for row in value):
            return [row[:1] for row in value]
        return [strip_fields(v, names) for v in value]
    return value


# ---------------------------------------------------------------------------- run-time state

@dataclass(frozen=True)
class Fault:
    kind: str
    seconds: float = 12.0          # timeout: how long to hold the answer
    retry_after: float | None = None   # rate_limit / ban: what Retry-After (or the like) says
    factor: float = 10.0           # wrong_price: multiplier of every price (0 or < 0 allowed)
    price: float | None = None     # wrong_price: instead, this price for every coin
    pct: float = 5.0               # skew: every price this many percent off (plausible, wrong)
    probability: float = 1.0       # share of requests the fault hits

    @classmethod
    def build(cls, kind: str, default_timeout: float, **params: Any) -> "Fault":
        if kind not in FAULTS:
            raise ValueError(f"unknown fault {kind!r}; faults: {', '.join(FAULTS)}")
        unknown = set(params) - FAULT_PARAMS
        if unknown:
            raise ValueError(f"unknown fault parameter(s) {sorted(unknown)}; "
                             f"allowed: {sorted(FAULT_PARAMS)}")
        values = {k: float(v) for k, v in params.items() if v is not None}
        values.setdefault("seconds", default_timeout)
        fault = cls(kind, **values)
        if not 0.0 <= fault.probability <= 1.0:
            raise ValueError("probability must be between 0 and 1")
        return fault


class ProviderServer:
    """One provider on its own port: the app plus limits, latency, faults and counters."""

    def __init__(self, app: ProviderApp, *, host: str = "127.0.0.1", port: int = 0,
                 latency_scale: float = 1.0, limits: bool = True, timeout_seconds: float = 12.0,
                 siblings: Callable[[], Iterable["ProviderServer"]] | None = None):
        self.app = app
        self.name = app.name
        self.limits_enabled = limits
        self.latency_scale = latency_scale
        self.timeout_seconds = timeout_seconds
        self.siblings = siblings or (lambda: [self])
        self._routes = app.routes()
        self._lock = threading.Lock()
        self._jitter = random.Random()
        self._wake = threading.Event()
        self.fault: Fault | None = None
        self.usdt_usd: float | None = None        # de-peg switch (None: the market's own rate)
        self.gate = self._default_gate()
        self.latency = (app.latency * latency_scale, 0.2)
        self._reset_counters()
        self.httpd = _Server((host, port), _Handler)
        self.httpd.provider = self
        self._thread: threading.Thread | None = None

    # -- lifecycle ----------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> None:
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={
            "poll_interval": 0.1}, name=f"sim-{self.name}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._wake_sleepers()
        self.httpd.shutdown()
        self.httpd.server_close()

    # -- run-time controls --------------------------------------------------------------------
    def set_fault(self, kind: str | None, **params: Any) -> Fault | None:
        fault = None if kind is None else Fault.build(kind, self.timeout_seconds, **params)
        with self._lock:
            self.fault = fault
        if fault is None:
            self._wake_sleepers()
        return fault

    def set_depeg(self, usdt_usd: float | None) -> None:
        """Tether at this USD price here (None: back to the market's own rate)."""
        if usdt_usd is not None and not 0 < float(usdt_usd) < 10:
            raise ValueError("usdt_usd must be a price between 0 and 10 (e.g. 0.97)")
        with self._lock:
            self.usdt_usd = None if usdt_usd is None else float(usdt_usd)

    def set_rate_limit(self, requests: float | None, per_seconds: float | None = None,
                       burst: float | None = None) -> None:
        """Replace the limit (fresh counters, bans lifted); `requests=None` removes it."""
        if requests is None:
            gate = Gate(None)
        else:
            if not per_seconds or per_seconds <= 0 or requests <= 0:
                raise ValueError("requests and per_seconds must be positive")
            _, ban = self.app.default_limit()
            gate = Gate(self.app.limit_from(requests, per_seconds, burst), ban)
        with self._lock:
            self.gate = gate

    def restore_rate_limit(self) -> None:
        """Back to the provider's documented limit (or none under --no-limits)."""
        with self._lock:
            self.gate = self._default_gate()

    def set_latency(self, seconds: float, jitter: float = 0.0) -> None:
        if seconds < 0 or not 0 <= jitter < 1:
            raise ValueError("seconds must be >= 0 and jitter in [0, 1)")
        with self._lock:
            self.latency = (seconds, jitter)

    def reset(self) -> None:
        """Healthy again: no fault, the default limit and latency, zeroed counters, no ban."""
        with self._lock:
            self.fault = None
            self.usdt_usd = None
            self.gate = self._default_gate()
            self.latency = (self.app.latency * self.latency_scale, 0.2)
            self._reset_counters()
        self._wake_sleepers()

    def stats(self) -> dict:
        with self._lock:
            return {"requests": self.requests, "rate_limited": self.rate_limited,
                    "faulted": self.faulted, "by_path": dict(self.by_path),
                    "by_status": {str(k): v for k, v in sorted(self.by_status.items())}}

    def header_values(self, name: str) -> dict[str, int]:
        """Values the clients sent in header `name`, with how often: lets a test see that a key
        travels upstream (and how)."""
        with self._lock:
            return {v: n for (k, v), n in self.headers_seen.items() if k == name.lower()}

    def state(self) -> dict:
        with self._lock:
            return {"provider": self.name, "base_url": self.base_url,
                    "fault": asdict(self.fault) if self.fault else None,
                    "usdt_usd": self.usdt_usd,
                    "limit": self.gate.describe(),
                    "latency": {"seconds": self.latency[0], "jitter": self.latency[1]}}

    def _default_gate(self) -> Gate:
        if not self.limits_enabled:
            return Gate(None)
        limiter, ban = self.app.default_limit()
        return Gate(limiter, ban)

    def _reset_counters(self) -> None:
        self.requests = 0
        self.rate_limited = 0
        self.faulted = 0
        self.by_path: Counter[str] = Counter()
        self.by_status: Counter[int] = Counter()
        self.headers_seen: Counter[tuple[str, str]] = Counter()   # (lower-case name, value)

    def _wake_sleepers(self) -> None:
        """Let requests held by a timeout fault go (on clear, reset and stop)."""
        with self._lock:
            wake, self._wake = self._wake, threading.Event()
        wake.set()

    # -- answering ----------------------------------------------------------------------------
    def handle(self, handler: "_Handler", method: str) -> None:
        now = time.time()
        split = urlsplit(handler.path)
        path = split.path or "/"
        query = {k: v[-1] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
        if path.startswith(CONTROL_PREFIX):
            self._send(handler, self._control(method, path, query, handler))
            return
        if method == "POST":
            _drain_body(handler)
        with self._lock:
            fault, gate, (latency, jitter), wake = self.fault, self.gate, self.latency, self._wake
            usdt_usd = self.usdt_usd
            self.requests += 1
            self.by_path[path] += 1
            self.headers_seen.update((k.lower(), v) for k, v in handler.headers.items())
        if fault is not None and self._jitter.random() >= fault.probability:
            fault = None
        req = Request(method, path, query, handler.headers, now, usdt_usd=usdt_usd)
        if latency > 0:
            time.sleep(latency * self._jitter.uniform(1 - jitter, 1 + jitter))
        if fault is not None:
            self._count(faulted=True)
            if fault.kind == "down":
                handler.close_connection = True
                return
            if fault.kind == "timeout":
                wake.wait(fault.seconds)
                fault = None
        try:
            resp = self._answer(req, fault, gate)
        except Exception as exc:      # a simulator bug must not look like a provider answer
            resp = text_answer(f"simulator error: {type(exc).__name__}: {exc}", 500)
        resp.headers.update(self.app.extra_headers)
        self._count(status=resp.status, rate_limited=resp.rate_limited)
        self._send(handler, resp)

    def _answer(self, req: Request, fault: Fault | None, gate: Gate) -> Response:
        route = self._route(req)
        app = self.app
        if fault is not None and fault.kind in ("error500", "html", "ban", "rate_limit"):
            resp = self._forced(req, fault)
            _add_missing(resp.headers, app.limit_headers(req, gate.snapshot(req.now)))
            return resp
        cost = route.cost(req) if route else 1
        admission = gate.admit(cost, req.now)
        if admission.kind != "ok":
            resp = self._refused(req, admission)
        else:
            if fault is not None and fault.kind == "wrong_price":
                if fault.price is not None:
                    req.fixed_price = fault.price
                else:
                    req.price_factor = fault.factor
            if fault is not None and fault.kind == "skew":
                req.price_factor = 1.0 + fault.pct / 100.0
            resp = route.handler(req) if route else app.not_found(req)
            if fault is not None and fault.kind == "malformed" and resp.status == 200:
                resp = app.malform(resp)
        _add_missing(resp.headers,
                     app.limit_headers(req, admission.verdict or gate.snapshot(req.now)))
        return resp

    def _route(self, req: Request) -> Route | None:
        for route in self._routes:
            if route.method != req.method:
                continue
            match = route.pattern.match(req.path)
            if match:
                req.path_params = {k: unquote(v) for k, v in match.groupdict().items()}
                return route
        return None

    def _forced(self, req: Request, fault: Fault) -> Response:
        app = self.app
        if fault.kind == "error500":
            return app.server_error(req)
        if fault.kind == "html":
            return app.html_page(req)
        if fault.kind == "ban":
            seconds = fault.retry_after if fault.retry_after is not None else app.ban_seconds
            return app.banned(req, Refusal(seconds, None, req.now + seconds))
        retry = fault.retry_after if fault.retry_after is not None else 60.0
        return app.rate_limited(req, Refusal(retry))

    def _refused(self, req: Request, admission: Admission) -> Response:
        if admission.kind == "banned":
            return self.app.banned(req, Refusal(admission.ban_left, admission.verdict,
                                                admission.banned_until))
        verdict = admission.verdict
        return self.app.rate_limited(req, Refusal(verdict.retry_after, verdict))

    def _count(self, *, status: int | None = None, rate_limited: bool = False,
               faulted: bool = False) -> None:
        with self._lock:
            if status is not None:
                self.by_status[status] += 1
            self.rate_limited += int(rate_limited)
            self.faulted += int(faulted)

    @staticmethod
    def _send(handler: "_Handler", resp: Response) -> None:
        body = resp.body()
        try:
            handler.send_response(resp.status)
            handler.send_header("Content-Type", resp.content_type)
            handler.send_header("Content-Length", str(len(body)))
            for key, value in resp.headers.items():
                handler.send_header(key, value)
            handler.end_headers()
            if handler.command != "HEAD":
                handler.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            handler.close_connection = True

    # -- /_sim/ control routes ------------------------------------------------------------------
    def _control(self, method: str, path: str, query: dict[str, str],
                 handler: "_Handler") -> Response:
        action = path[len(CONTROL_PREFIX):].strip("/")
        try:
            body = _read_json(handler)
        except ValueError as exc:
            return json_answer({"error": f"body is not JSON: {exc}"}, 400)
        everyone = bool(body.pop("all", False)) or query.get("all") in ("1", "true")
        targets = list(self.siblings()) if everyone else [self]
        try:
            if method == "GET" and action == "stats":
                if everyone:
                    return json_answer({s.name: s.stats() for s in targets})
                return json_answer({"provider": self.name, **self.stats()})
            if method == "GET" and action == "state":
                return json_answer([s.state() for s in targets] if everyone else self.state())
            if method == "POST" and action == "fault":
                if "fault" not in body:
                    raise ValueError('send {"fault": "<name>" | null, ...parameters}')
                kind = body.pop("fault")
                for server in targets:
                    server.set_fault(kind, **body)
                return json_answer({"ok": True, "providers": [s.name for s in targets],
                                    "fault": targets[0].state()["fault"]})
            if method == "POST" and action == "reset":
                for server in targets:
                    server.reset()
                return json_answer({"ok": True, "providers": [s.name for s in targets]})
            if method == "POST" and action == "limit":
                if body.get("default"):
                    for server in targets:
                        server.restore_rate_limit()
                else:
                    for server in targets:
                        server.set_rate_limit(body.get("requests"), body.get("per_seconds"),
                                              body.get("burst"))
                return json_answer({"ok": True, "limit": targets[0].state()["limit"]})
            if method == "POST" and action == "depeg":
                if "usdt_usd" not in body:
                    raise ValueError('send {"usdt_usd": 0.97} (null restores the peg)')
                for server in targets:
                    server.set_depeg(body["usdt_usd"])
                return json_answer({"ok": True, "usdt_usd": targets[0].usdt_usd,
                                    "providers": [s.name for s in targets]})
            if method == "POST" and action == "latency":
                for server in targets:
                    server.set_latency(float(body.get("seconds", 0.0)),
                                       float(body.get("jitter", 0.0)))
                return json_answer({"ok": True, "latency": targets[0].state()["latency"]})
        except (TypeError, ValueError) as exc:
            return json_answer({"error": str(exc)}, 400)
        return json_answer({"error": f"unknown control route {method} {path}", "routes": [
            "POST /_sim/fault", "POST /_sim/reset", "POST /_sim/limit", "POST /_sim/latency",
            "POST /_sim/depeg",
            "GET /_sim/stats", "GET /_sim/state"]}, 404)


def _add_missing(headers: dict[str, str], more: dict[str, str]) -> None:
    """Limit headers, unless the answer already set its own (a fault's Retry-After wins)."""
    for key, value in more.items():
        headers.setdefault(key, value)


def _read_json(handler: "_Handler") -> dict:
    length = int(handler.headers.get("Content-Length") or 0)
    raw = handler.rfile.read(length) if length else b""
    if not raw.strip():
        return {}
    value = json.loads(raw)
    if not isinstance(value, dict):
        raise ValueError("expected a JSON object")
    return value


def _drain_body(handler: "_Handler") -> None:
    """Drain a request body no route reads, so the kept-alive connection stays in step."""
    length = int(handler.headers.get("Content-Length") or 0)
    if length:
        handler.rfile.read(length)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128
    allow_reuse_address = True
    provider: ProviderServer


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 60                      # idle keep-alive connections are dropped after this
    disable_nagle_algorithm = True    # headers and body go out at once: no 40 ms delayed-ACK stall
    server: _Server

    def do_GET(self) -> None:
        self.server.provider.handle(self, "GET")

    def do_POST(self) -> None:
        self.server.provider.handle(self, "POST")

    def do_HEAD(self) -> None:
        self.server.provider.handle(self, "GET")

    def version_string(self) -> str:
        return self.server.provider.app.server_header

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the counters in /_sim/stats say what happened."""
