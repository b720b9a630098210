"""The REST routes and the /ws price feed kept from the old system, served by the same process as
the Gradio app. Every route calls the service functions, so all surfaces show the same numbers.

Errors a caller can cause are answers, not crashes: bad input is a 400 naming the parameter,
no provider a 503 with `Retry-After` and the per-provider reasons. A 500 means a real bug, and
its body carries no traceback.
"""
from __future__ import annotations

import asyncio
import json
import logging
import math
import os
import threading
import time
import uuid
from typing import Any

from fastapi import FastAPI, Query, Request, WebSocket
from fastapi.exception_handlers import request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.routing import Match, Mount
from starlette.staticfiles import StaticFiles
from starlette.websockets import WebSocketDisconnect, WebSocketState

from ai import InvalidText
from providers.base import INTERVALS
from routing import InvalidInput, NoProviderAvailable
from routing.validate import SYMBOL_RE

log = logging.getLogger("ui.rest")

API_PREFIX = "/api"
TICK_ENV = "WS_TICK_S"
DEFAULT_TICK_S = 5.0
MIN_TICK_S = 0.2
MAX_SUBSCRIPTIONS = 20          # per connection: each one costs a price lookup per tick
MAX_BODY_BYTES = 1 << 20        # 64 texts of 2000 characters fit with room to spare


def tick_seconds() -> float:
    """Seconds between price ticks on /ws: WS_TICK_S, else 5."""
    raw = os.environ.get(TICK_ENV, "").strip()
    if not raw:
        return DEFAULT_TICK_S
    try:
        value = float(raw)
    except ValueError:
        log.warning("%s=%r is not a number; using %.0f s", TICK_ENV, raw, DEFAULT_TICK_S)
        return DEFAULT_TICK_S
    if not math.isfinite(value) or value < MIN_TICK_S:
        log.warning("%s=%r is below %.1f s; using %.1f s", TICK_ENV, raw, MIN_TICK_S, MIN_TICK_S)
        return MIN_TICK_S
    return value


class ServingStats:
    """What the status payload reports about this server's own feed: open /ws connections and
    their subscriptions."""

    def __init__(self):
        self._lock = threading.Lock()
        self.ws_clients = 0
        self.ws_subscriptions = 0

    def add(self, field: str, n: int) -> None:
        with self._lock:
            setattr(self, field, getattr(self, field) + n)

    def view(self) -> dict:
        with self._lock:
            return {"ws_clients": self.ws_clients, "ws_subscriptions": self.ws_subscriptions}


# -- error answers ------------------------------------------------------------------------------

def internal_error() -> JSONResponse:
    """A real bug: logged by the caller, answered without details."""
    return JSONResponse({"error": "internal_error",
                         "detail": "unexpected server error; it has been logged"}, status_code=500)


def invalid(param: str, detail: str) -> JSONResponse:
    return JSONResponse({"error": "invalid_input", "param": param, "detail": detail},
                        status_code=400)


def no_provider(exc: NoProviderAvailable) -> JSONResponse:
    return JSONResponse(exc.to_dict(), status_code=503,
                        headers={"Retry-After": str(math.ceil(exc.retry_after))})


def text_param(exc: InvalidText) -> str:
    """InvalidText messages start with what they are about: "text", "text #3" or "texts"."""
    return "texts" if str(exc).startswith("texts") else "text"


def add_error_handlers(app: FastAPI) -> None:
    async def on_invalid_input(request: Request, exc: InvalidInput) -> JSONResponse:
        return JSONResponse(exc.to_dict(), status_code=400)

    async def on_invalid_text(request: Request, exc: InvalidText) -> JSONResponse:
        return invalid(text_param(exc), str(exc))

    async def on_no_provider(request: Request, exc: NoProviderAvailable) -> JSONResponse:
        return no_provider(exc)

    async def on_validation(request: Request, exc: RequestValidationError):
        """FastAPI says 422 for a missing or malformed parameter; the old API said 400."""
        if not request.url.path.startswith(API_PREFIX + "/"):
            return await request_validation_exception_handler(request, exc)
        first = exc.errors()[0] if exc.errors() else {}
        loc = [str(part) for part in first.get("loc", ()) if part not in ("query", "body")]
        param = loc[-1] if loc else "body"
        kind = first.get("type", "")
        if kind == "missing":
            detail = f"{param}: required parameter is missing"
        else:
            detail = f"{param}: {first.get('msg', 'invalid value')}"
        return invalid(param, detail)

    async def on_bug(request: Request, exc: Exception) -> JSONResponse:
        log.exception("Unhandled error on %s %s", request.method, request.url.path)
        return internal_error()

    app.add_exception_handler(InvalidInput, on_invalid_input)
    app.add_exception_handler(InvalidText, on_invalid_text)
    app.add_exception_handler(NoProviderAvailable, on_no_provider)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(Exception, on_bug)


def guard_gradio_calls(app: FastAPI) -> None:
    """Gradio's `/gradio_api/call/...` routes turn some caller mistakes into a bare 500: an
    unknown or missing named argument (TypeError / ValueError) and an unknown api name (KeyError /
    FnIndexInferError). Answer 400 / 404 with a clear message instead; other errors in the Gradio
    app become a JSON 500 without details. Call after `gr.mount_gradio_app`."""
    from gradio.route_utils import FnIndexInferError

    mounted = [r.app for r in app.routes if isinstance(r, Mount) and hasattr(r.app, "get_blocks")]
    if not mounted:
        raise RuntimeError("guard_gradio_calls: no Gradio app is mounted on this app yet")

    async def on_bad_call(request: Request, exc: Exception) -> JSONResponse:
        path = request.url.path
        if "/gradio_api/call/" in path:
            if isinstance(exc, (KeyError, FnIndexInferError)):
                name = path.split("/gradio_api/call/", 1)[1].removeprefix("v2/").split("/")[0]
                return JSONResponse({"error": "unknown_endpoint",
                                     "detail": f"no API endpoint is called {name[:40]!r}; "
                                               "GET /gradio_api/info lists them"},
                                    status_code=404)
            return JSONResponse({"error": "invalid_input", "detail": str(exc)}, status_code=400)
        log.error("Unhandled error on %s %s", request.method, path,
                  exc_info=(type(exc), exc, exc.__traceback__))
        return internal_error()

    for gradio_app in mounted:
        for kind in (TypeError, ValueError, KeyError, FnIndexInferError):
            gradio_app.add_exception_handler(kind, on_bad_call)


# -- the routes ---------------------------------------------------------------------------------

ERROR_SCHEMA = {"type": "object", "required": ["error", "detail"], "properties": {
    "error": {"type": "string"}, "param": {"type": "string"}, "detail": {"type": "string"}}}
NO_PROVIDER_SCHEMA = {"type": "object", "required": ["error", "detail", "retry_after_s",
                                                      "providers"], "properties": {
    "error": {"type": "string", "enum": ["no_provider_available"]},
    "detail": {"type": "string"}, "retry_after_s": {"type": "number"},
    "providers": {"type": "object", "additionalProperties": {"type": "string"}}}}


def _answer(description: str, schema: dict, **extra: Any) -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}},
            **extra}


BAD_INPUT = {400: _answer("A bad or missing parameter; `param` names it.", ERROR_SCHEMA)}
TOO_LARGE = {413: _answer("The body is over 1 MiB.", ERROR_SCHEMA)}
NO_PROVIDER = {503: _answer(
    "No provider can answer now and nothing is cached; each provider's reason is listed.",
    NO_PROVIDER_SCHEMA, headers={"Retry-After": {
        "description": "Whole seconds until a provider is expected back.", "required": True,
        "schema": {"type": "integer", "minimum": 1}}})}
MARKET_ANSWERS = {**BAD_INPUT, **NO_PROVIDER}
DOCS_STATIC = "/api/docs/static"
# Documented, not enforced by FastAPI: the router's own validation answers 400 with its message.
SYMBOL = Query(description="Coin ticker, e.g. BTC", examples=["BTC"],
               json_schema_extra={"pattern": SYMBOL_RE.pattern})
TIMEFRAME = Query("1h", description="Candle length",
                  json_schema_extra={"enum": list(INTERVALS)})


def openapi_schema(app: FastAPI) -> dict:
    """The REST routes' OpenAPI, listing what they really answer: FastAPI's 422 is never sent
    (bad input is a 400 here), so it and its schemas are left out."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(title=app.title, version=app.version, routes=app.routes,
                         description=app.description)
    for path in schema.get("paths", {}).values():
        for op in path.values():
            op.get("responses", {}).pop("422", None)
    schemas = schema.get("components", {}).get("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    if "components" in schema and not schemas:
        schema["components"].pop("schemas", None)
        if not schema["components"]:
            del schema["components"]
    app.openapi_schema = schema
    return schema


class MethodCheck:
    """ASGI middleware: a REST path asked with a method it does not take gets 405 with an
    `Allow` header. (Without it the request falls through to the Gradio app mounted at "/",
    which answers 404.)"""

    def __init__(self, app, api: FastAPI):
        self.app = app
        self.api = api

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope.get("path", "").startswith(API_PREFIX + "/"):
            allowed: set[str] = set()
            for route in self.api.routes:
                if isinstance(route, APIRoute):
                    match, _ = route.matches(scope)
                    if match == Match.FULL:
                        allowed = set()
                        break
                    if match == Match.PARTIAL:
                        allowed |= route.methods
            if allowed:
                allow = ", ".join(sorted(allowed))
                response = JSONResponse(
                    {"error": "method_not_allowed",
                     "detail": f"{scope['method']} is not allowed here; use {allow}"},
                    status_code=405, headers={"Allow": allow})
                return await response(scope, receive, send)
        return await self.app(scope, receive, send)


SENTIMENT_BODY = {"requestBody": {"required": True, "content": {"application/json": {"schema": {
    "type": "object",
    "properties": {"text": {"type": "string", "maxLength": 2000},
                   "texts": {"type": "array", "items": {"type": "string"}, "maxItems": 64}},
    "example": {"text": "BTC breaks a new high"}}}}}}


def mount(app: FastAPI, service, sentiment) -> ServingStats:
    """Add the REST routes, the /ws feed and the error handlers to `app`; returns the counters
    the status payload shows."""
    stats = ServingStats()
    tick = tick_seconds()
    add_error_handlers(app)
    app.openapi = lambda: openapi_schema(app)
    app.add_middleware(MethodCheck, api=app)
    serve_docs_offline(app)

    @app.get("/api/market/price", tags=["market"], responses=MARKET_ANSWERS)
    def market_price(symbol: str = SYMBOL) -> dict:
        """The price answer for one coin: symbol, price, source, timestamp, quote_currency,
        cached, age_s, stale, consensus (+ change_24h_pct, volume_24h, market_cap when
        known)."""
        return service.price(symbol)

    @app.get("/api/market/prices", tags=["market"], responses=MARKET_ANSWERS)
    def market_prices(symbols: str) -> dict:
        """Price answers for up to 50 coins at once (comma-separated), filled by the providers'
        batch endpoints; a coin no provider could answer is a row {symbol, error}."""
        rows = service.prices(symbols)
        return {"prices": rows, "count": len(rows)}

    @app.get("/api/market/venues", tags=["market"], responses=MARKET_ANSWERS)
    def market_venues(symbol: str = SYMBOL) -> dict:
        """One coin's quote from every venue in the quote book: venue, kind, quote_currency,
        price (native), price_usd, deviation_bps from the consensus, age_s, used or the reason
        it was left out; plus the consensus and which source the price answer serves."""
        return service.venues(symbol)

    @app.get("/api/market/ohlc", tags=["market"], responses=MARKET_ANSWERS)
    def market_ohlc(symbol: str = SYMBOL, timeframe: str = TIMEFRAME,
                    limit: str = "100") -> dict:
        """Candles, oldest first. timeframe: 1m 5m 15m 30m 1h 4h 1d 1w; limit: 1-500."""
        try:
            return service.ohlc(symbol, timeframe, limit)
        except InvalidInput as exc:
            if exc.param == "interval":     # the router's name for what this route calls timeframe
                raise InvalidInput("timeframe", exc.message) from None
            raise

    @app.get("/api/ping", tags=["system"], include_in_schema=False)
    def ping() -> dict:
        """A constant answer: the serving floor the benchmark compares real endpoints with."""
        return {"pong": True}

    @app.get("/api/system/status", tags=["system"])
    def system_status() -> dict:
        """The old status-drawer payload, every number measured."""
        return service.system_status()

    @app.head("/api/health", tags=["system"], operation_id="health_head")
    @app.get("/api/health", tags=["system"])
    async def health() -> dict:
        """Liveness plus a few measured facts; costs no upstream call. Async, so it runs on
        the event loop and answers even while every worker thread waits on a slow provider
        (it only reads in-memory counters, under locks never held across a fetch)."""
        providers = service.provider_stats()
        enabled = [p for p in providers if p.get("state") != "disabled"]
        online = [p for p in enabled if p.get("state") == "online"]
        # "idle" (not called yet) is no known problem: it counts as available
        available = [p for p in enabled if p.get("state") in ("online", "idle")]
        model = sentiment.status()
        now = time.time()
        return {
            # healthy while at least half the enabled providers are available
            "status": ("healthy" if 2 * len(available) >= len(enabled) else
                       "degraded" if available else "unhealthy"),
            "timestamp": round(now, 3),
            "uptime_s": round(now - service.started_at, 1),
            "providers_online": len(online),
            "providers_idle": len(available) - len(online),
            "providers_enabled": len(enabled),
            "providers_answered": sum(1 for p in enabled if p.get("last_success")),
            "model": {"state": model.get("state"), "engine": model.get("engine")},
            **stats.view(),
        }

    @app.post("/api/sentiment/analyze", tags=["sentiment"], openapi_extra=SENTIMENT_BODY,
              responses={**BAD_INPUT, **TOO_LARGE})
    async def sentiment_analyze(request: Request) -> dict:
        """{"text": "..."} -> one result; {"texts": [...]} -> {"results": [...], "count"}.
        Each result: text, label, score, engine, model, and the old fields sentiment
        (Bullish/Neutral/Bearish) and confidence. The body is read as JSON whatever its
        Content-Type says (`curl -d` sends form-urlencoded)."""
        raw = bytearray()
        async for chunk in request.stream():
            raw += chunk
            if len(raw) > MAX_BODY_BYTES:
                return JSONResponse({"error": "too_large", "param": "body",
                                     "detail": f"body: over {MAX_BODY_BYTES // 1024} KiB"},
                                    status_code=413)
        try:
            body = json.loads(bytes(raw) or b"null")
        except (ValueError, RecursionError):     # RecursionError: absurdly nested brackets
            raise InvalidInput("body", "not valid JSON; send e.g. {\"text\": \"BTC breaks out\"}") \
                from None
        if not isinstance(body, dict) or ("text" in body) == ("texts" in body):
            raise InvalidInput("text", "send a JSON object with either \"text\" (a string) or "
                                       "\"texts\" (a list of strings)")
        if "text" in body:
            text = body["text"]
            if not isinstance(text, str):
                raise InvalidInput("text", f"must be a string, got {type(text).__name__}")
            results = await run_in_threadpool(sentiment.analyze, [text])
            return _with_old_fields(results[0])
        try:
            results = await run_in_threadpool(sentiment.analyze, body["texts"])
        except InvalidText as exc:      # it may speak of "text #3": say which field that was in
            raise InvalidInput("texts", str(exc)) from None
        results = [_with_old_fields(r) for r in results]
        return {"results": results, "count": len(results)}

    @app.websocket("/ws")
    async def ws_prices(websocket: WebSocket) -> None:
        await PriceFeed(websocket, service, tick, stats).run()

    return stats


def serve_docs_offline(app: FastAPI) -> None:
    """/api/docs with Swagger UI's files served from the swagger-ui-bundle package, so the page
    works without internet (FastAPI's default loads them from a CDN). Create the app with
    docs_url=None."""
    from swagger_ui_bundle import swagger_ui_path

    app.mount(DOCS_STATIC, StaticFiles(directory=str(swagger_ui_path)), name="swagger-ui")

    @app.get("/api/docs", include_in_schema=False)
    def docs():
        return get_swagger_ui_html(
            openapi_url=app.openapi_url, title=f"{app.title} - docs",
            swagger_js_url=f"{DOCS_STATIC}/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_STATIC}/swagger-ui.css",
            swagger_favicon_url=f"{DOCS_STATIC}/favicon-32x32.png")


def _with_old_fields(result: dict) -> dict:
    return {**result, "sentiment": result["label"].capitalize(), "confidence": result["score"]}


# -- the /ws price feed -------------------------------------------------------------------------

class PriceFeed:
    """One /ws connection in the old protocol. The client sends subscribe / unsubscribe / ping;
    each subscription is a task that sends a price tick every `tick_s` seconds. Bad messages get
    an error message and the connection stays open."""

    def __init__(self, websocket: WebSocket, service, tick_s: float, stats: ServingStats):
        self.ws = websocket
        self.service = service
        self.tick_s = tick_s
        self.stats = stats
        self.client_id = uuid.uuid4().hex[:12]
        self.tasks: dict[str, asyncio.Task] = {}
        self._send_lock = asyncio.Lock()

    async def send(self, message: dict) -> None:
        async with self._send_lock:
            if self.ws.client_state == WebSocketState.CONNECTED:
                await self.ws.send_text(json.dumps(message))

    async def error(self, text: str, **extra: Any) -> None:
        await self.send({"type": "error", "message": text, **extra, "timestamp": _now()})

    async def run(self) -> None:
        await self.ws.accept()
        self.stats.add("ws_clients", 1)
        try:
            await self.send({"type": "connected", "client_id": self.client_id,
                             "message": f"Connected. Send {{\"type\": \"subscribe\", \"symbol\": "
                                        f"\"BTC\"}} for a price every {self.tick_s:g} s; "
                                        f"\"unsubscribe\" and \"ping\" also work.",
                             "tick_s": self.tick_s, "timestamp": _now()})
            while True:
                message = await self.ws.receive()
                if message["type"] == "websocket.disconnect":
                    break
                raw = message.get("text")
                if raw is None and message.get("bytes") is not None:
                    raw = message["bytes"].decode("utf-8", errors="replace")
                await self.handle(raw or "")
        except WebSocketDisconnect:
            pass
        finally:
            for task in self.tasks.values():
                task.cancel()
            self.stats.add("ws_subscriptions", -len(self.tasks))
            self.tasks.clear()
            self.stats.add("ws_clients", -1)

    async def handle(self, raw: str) -> None:
        try:
            msg = json.loads(raw)
        except (ValueError, RecursionError):
            await self.error("message is not valid JSON; send e.g. "
                             "{\"type\": \"subscribe\", \"symbol\": \"BTC\"}")
            return
        if not isinstance(msg, dict):
            await self.error("message must be a JSON object with a \"type\" field")
            return
        kind = msg.get("type")
        if kind == "ping":
            await self.send({"type": "pong", "timestamp": _now()})
        elif kind == "subscribe":
            await self.subscribe(msg.get("symbol"))
        elif kind == "unsubscribe":
            await self.unsubscribe(msg.get("symbol"))
        else:
            await self.error(f"unknown message type {str(kind)[:40]!r}; use subscribe, "
                             "unsubscribe or ping")

    async def subscribe(self, symbol: Any) -> None:
        if not isinstance(symbol, str) or not symbol.strip():
            await self.error("symbol: required, e.g. "
                             "{\"type\": \"subscribe\", \"symbol\": \"BTC\"}", param="symbol")
            return
        if len(self.tasks) >= MAX_SUBSCRIPTIONS and symbol.strip().upper() not in self.tasks:
            await self.error(f"at most {MAX_SUBSCRIPTIONS} subscriptions per connection; "
                             "unsubscribe from one first", param="symbol")
            return
        first = await self.lookup(symbol)
        if first is None:
            return                           # not a valid symbol: the error is sent
        ticker = first.get("symbol") or symbol.strip().upper()
        await self.send({"type": "subscribed", "symbol": ticker, "tick_s": self.tick_s})
        if ticker not in self.tasks:
            self.tasks[ticker] = asyncio.create_task(self.ticks(ticker, first))
            self.stats.add("ws_subscriptions", 1)

    async def unsubscribe(self, symbol: Any) -> None:
        if not isinstance(symbol, str) or not symbol.strip():
            await self.error("symbol: required, e.g. "
                             "{\"type\": \"unsubscribe\", \"symbol\": \"BTC\"}", param="symbol")
            return
        ticker = symbol.strip().upper()
        task = self.tasks.pop(ticker, None)
        if task is not None:
            async with self._send_lock:         # never cut a tick off mid-frame
                task.cancel()
            self.stats.add("ws_subscriptions", -1)
        await self.send({"type": "unsubscribed", "symbol": ticker,
                         "was_subscribed": task is not None,
                         "subscriptions": sorted(self.tasks)})

    async def lookup(self, symbol: str) -> dict | None:
        """A price answer, {"symbol"} when no provider can answer now (the error is sent and the
        ticks keep trying), or None for an invalid symbol (the error is sent)."""
        try:
            return await run_in_threadpool(self.service.price, symbol)
        except InvalidInput as exc:
            await self.error(str(exc), param=exc.param)
            return None
        except NoProviderAvailable as exc:
            await self.error(str(exc), symbol=symbol.strip().upper(),
                             retry_after_s=math.ceil(exc.retry_after))
            return {"symbol": symbol.strip().upper()}

    async def ticks(self, ticker: str, first: dict) -> None:
        """Send a price now (if the lookup at subscribe time had one), then every tick_s."""
        answer: dict | None = first if "price" in first else None
        try:
            while True:
                if answer is not None:
                    await self.send({"type": "price", **answer})
                await asyncio.sleep(self.tick_s)
                try:
                    answer = await self.lookup(ticker)
                except Exception:
                    log.exception("Price tick for %s failed", ticker)
                    await self.error("internal error fetching the price; will retry",
                                     symbol=ticker)
                    answer = None
                if answer is not None and "price" not in answer:
                    answer = None
        except asyncio.CancelledError:
            raise
        except Exception:       # the socket went away mid-send: the receive loop ends the feed
            log.debug("Tick loop for %s ended", ticker, exc_info=True)


def _now() -> float:
    return round(time.time(), 3)
