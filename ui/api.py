"""The public Gradio API: ten typed endpoints over the service functions, for gradio_client, the
"Use via API" page and MCP. Registered with `gr.api`, so they need no UI component; the type hints
and the `Args:` blocks below are what the API page and the MCP tool descriptions show.

No `from __future__ import annotations` here: gr.api reads the hints as real types.
"""
import contextlib
import inspect
import json
import re
from collections.abc import Callable, Iterator

import gradio as gr
from gradio.context import get_blocks_context

from ai import InvalidText
from routing import InvalidInput, NoProviderAvailable

# The router is thread-safe and answers most calls from its cache, so market-data endpoints run
# side by side (bounded by the server's thread pool). The model takes one batch at a time.
DATA_CONCURRENCY = None
SENTIMENT_CONCURRENCY = 1


@contextlib.contextmanager
def caller_errors() -> Iterator[None]:
    """Turn the errors a caller can cause into gr.Error (shown to the caller as is); anything
    else stays a real bug, which Gradio reports without its message."""
    try:
        yield
    except (InvalidInput, InvalidText) as exc:
        raise gr.Error(str(exc), title="Invalid input", print_exception=False) from None
    except NoProviderAvailable as exc:
        raise gr.Error(str(exc), title="No provider available", print_exception=False) from None


API_NAMES = ("get_price", "get_prices", "get_ohlc", "get_top_coins", "get_fear_greed",
             "get_venues", "provider_stats", "system_status", "news_sentiment",
             "analyze_sentiment", "ping")


def keep_api_calls_stateless(app) -> None:
    """After `gr.mount_gradio_app`: a Gradio API call keeps no state once it is answered
    (`forget_api_sessions`, `CallResults`)."""
    from starlette.routing import Mount

    mounted = [r.app for r in app.routes if isinstance(r, Mount) and hasattr(r.app, "get_blocks")]
    if not mounted:
        raise RuntimeError("keep_api_calls_stateless: no Gradio app is mounted on this app yet")
    for gradio_app in mounted:
        forget_api_sessions(gradio_app.get_blocks())
        app.add_middleware(CallResults, gradio_app=gradio_app)


def forget_api_sessions(demo: gr.Blocks) -> None:
    """Drop a session's state once an API call in it has answered, unless the session also ran
    UI events or holds gr.State values.

    Gradio gives each `/gradio_api/call/...` call a new session, and each session a copy of the
    whole UI's configuration (about 140 kB here), kept until 10,000 sessions exist. An API-only
    session holds nothing a later call needs: a new call simply gets a fresh copy."""
    original = demo.process_api

    async def process_api(block_fn, inputs, state=None, request=None, iterator=None,
                          session_hash=None, *args, **kwargs):
        fn = block_fn if not isinstance(block_fn, int) else demo.fns[block_fn]
        api_only = fn.api_name in API_NAMES
        try:
            return await original(block_fn, inputs, state, request, iterator, session_hash,
                                  *args, **kwargs)
        finally:
            holder = getattr(demo, "state_holder", None)
            if state is not None and not api_only:
                state.ran_ui_events = True
            elif (state is not None and session_hash and holder is not None
                  and not getattr(state, "ran_ui_events", False) and not state.state_data):
                with holder.lock:
                    if holder.session_data.get(session_hash) is state:
                        del holder.session_data[session_hash]
                        holder.time_last_used.pop(session_hash, None)

    demo.process_api = process_api


CALL_RESULT = re.compile(r"^/gradio_api/call/(?:v2/)?[^/]+/([^/]+)/?$")


class CallResults:
    """ASGI middleware around `GET /gradio_api/call/<name>/<event_id>`, the second step of a
    plain-HTTP API call.

    An unknown or already-read event id gets a short 404 here; Gradio would raise inside its
    event stream and log a 14 kB traceback per request. Once a result has been read, the
    session's message queue, its empty set of pending ids and the event's iterator slot are
    dropped: Gradio keeps them per call (the set and the slot forever)."""

    def __init__(self, app, gradio_app):
        self.app = app
        self.gradio_app = gradio_app

    async def __call__(self, scope, receive, send):
        match = CALL_RESULT.match(scope.get("path", "")) if scope["type"] == "http" and \
            scope.get("method") == "GET" else None
        if match is None:
            return await self.app(scope, receive, send)
        event_id = match.group(1)
        queue = self.gradio_app.get_blocks()._queue
        session = self._session_of(queue, event_id)
        if session not in queue.pending_messages_per_session:
            body = json.dumps({"error": "unknown_event",
                               "detail": f"no pending call has the event id {event_id[:40]!r}; "
                                         "POST /gradio_api/call/<name> first, and read each "
                                         "result once"}).encode()
            await send({"type": "http.response.start", "status": 404,
                        "headers": [(b"content-type", b"application/json"),
                                    (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})
            return
        try:
            await self.app(scope, receive, send)
        finally:
            if not queue.pending_event_ids_session.get(session):
                queue.pending_event_ids_session.pop(session, None)
                queue.pending_messages_per_session.pop(session, None)
            if self.gradio_app.iterators.get(event_id, False) is None:
                self.gradio_app.iterators.pop(event_id, None)

    @staticmethod
    def _session_of(queue, event_id: str) -> str:
        """The session Gradio reads this event's messages from (its own lookup, same order)."""
        event = queue.event_ids_to_events.get(event_id)
        if event is not None:
            return event.session_hash
        return next((s for s, ids in list(queue.pending_event_ids_session.items())
                     if event_id in ids), event_id)


def endpoints(service, sentiment, news: Callable[[str, int], dict]) -> list[Callable]:
    """The ten endpoint functions over the services, in the order they are registered. Their
    docstrings are the API documentation: each Args entry is one line and each Returns line
    ends without a comma on purpose, because Gradio's MCP server reads only the first line of
    an argument and joins the Returns lines with ", "."""

    def get_price(symbol: str) -> dict:
        """Latest USD price of one coin, from whichever provider the router picked.

        Args:
            symbol: Coin ticker, 1-15 letters or digits, case-insensitive, e.g. "BTC" or "eth".

        Returns:
            symbol, price (the source's own, checked against the other venues), source (provider)
            timestamp (epoch s of the data), quote_currency (USD or USDT), cached, age_s, stale
            consensus {price (USD), confidence, spread_bps, status (ok, degraded, single_source
            stale), sources, excluded {venue: reason}, usdt_usd, usdt_depeg, max_age_s}
            change_24h_pct, volume_24h and market_cap when the source has them
        """
        with caller_errors():
            return service.price(symbol)

    def get_venues(symbol: str) -> dict:
        """Every venue's latest quote of one coin, in USD, against the cross-venue consensus:
        who agrees, who was left out and why (an outlier, a stale quote).

        Args:
            symbol: Coin ticker, 1-15 letters or digits, case-insensitive, e.g. "BTC".

        Returns:
            symbol, consensus (as in get_price), served {source, price, quote_currency}
            venues: one record per venue with venue, kind (exchange or aggregator)
            quote_currency, price (native), price_usd, deviation_bps (from the consensus)
            age_s, used, reason (why it was left out; empty when used)
        """
        with caller_errors():
            return service.venues(symbol)

    def get_prices(symbols: str | list[str]) -> list[dict]:
        """Latest USD prices of several coins at once, filled by batch endpoints where possible.

        Args:
            symbols: 1 to 50 tickers, as a list or a comma-separated string, e.g. "BTC,ETH,SOL".

        Returns:
            One record per ticker, in the order asked: a price answer (as get_price)
            or {symbol, error} for a ticker no provider could answer
        """
        with caller_errors():
            return service.prices(symbols)

    def get_ohlc(symbol: str, interval: str = "1h", limit: int = 100) -> dict:
        """OHLC candles for one coin, oldest first.

        Args:
            symbol: Coin ticker, 1-15 letters or digits, e.g. "BTC".
            interval: Candle length, one of 1m, 5m, 15m, 30m, 1h, 4h, 1d, 1w (default 1h).
            limit: Number of candles, an integer from 1 to 500 (default 100).

        Returns:
            symbol, timeframe, ohlc (list of {timestamp, open, high, low, close, volume})
            count, source, cached, age_s, stale
        """
        with caller_errors():
            return service.ohlc(symbol, interval, limit)

    def get_top_coins(limit: int = 20) -> dict:
        """The largest coins by market capitalisation.

        Args:
            limit: Number of coins, an integer from 1 to 100 (default 20).

        Returns:
            coins (rank, symbol, name, price, market_cap, volume_24h, change_24h_pct, source)
            count, timestamp, source, cached, age_s, stale
        """
        with caller_errors():
            return service.top_coins(limit)

    def get_fear_greed() -> dict:
        """The Crypto Fear & Greed index (0 = extreme fear, 100 = extreme greed).

        Returns:
            value (0-100), classification (e.g. "Greed"), timestamp, time_until_update_s
            source, cached, age_s, stale
        """
        with caller_errors():
            return service.fear_greed()

    def provider_stats() -> list[dict]:
        """Every data provider with its measured state: requests, share of upstream calls,
        success rate, latency, budget left, cooldowns and breakers.

        Returns:
            One record per provider, enabled or not: name, label, enabled
            state (online, degraded, down, rate_limited, cooldown, idle or disabled)
            state_label, reason (one plain sentence), until (when the state ends, epoch s)
            success_rate (0-1 over recent_calls), recent_calls, errors_last_hour
            share, upstream_calls, latency_ms {avg, p50, p95}
            rate_limit {documented, budget (this replica's), budget_full, remaining, refill_s}
            cooldown_until, breaker_open_until
        """
        return service.provider_stats()

    def system_status() -> dict:
        """The whole system at a glance, every number measured (the old /api/system/status).

        Returns:
            overall_health (online, degraded, partial or offline), overall_summary (a sentence)
            providers_detailed (status, reason, success_rate in %, errors_last_hour per provider)
            ai_models, cache
            infrastructure (shared_state: backend, state, replica_id, budget_share)
            error_details (the provider errors of the last hour, by provider and kind)
            performance (of the whole fleet with REDIS_URL)
            replicas (id, uptime_s, last_heartbeat, alive), timestamp
        """
        return service.system_status()

    def analyze_sentiment(text: str) -> dict:
        """Crypto sentiment of one text, by the transformers model on the CPU, or by the VADER
        lexicon while the model is not loaded (the `engine` field says which).

        Args:
            text: The text to classify, 1 to 2000 characters after trimming spaces.

        Returns:
            text, label (bullish, neutral or bearish), score (0-1)
            engine (transformers or lexicon), model
        """
        with caller_errors():
            return sentiment.analyze([text])[0]

    def news_sentiment(symbol: str = "", limit: int = 20) -> dict:
        """Recent headlines for a coin (or the whole market), each classified, with the share
        bullish / neutral / bearish and the Fear & Greed index.

        Args:
            symbol: Coin ticker, e.g. "BTC"; empty (the default) for market-wide news.
            limit: Number of headlines, an integer from 1 to 50 (default 20).

        Returns:
            symbol, headlines (title, url, source, publisher, published, label, score, engine)
            aggregate (bullish, neutral, bearish shares and count), sources, engine
            fear_greed, stale
        """
        with caller_errors():
            return news(symbol, limit)

    return [get_price, get_prices, get_venues, get_ohlc, get_top_coins, get_fear_greed, provider_stats,
            system_status, news_sentiment, analyze_sentiment]


def register(service, sentiment, news: Callable[[str, int], dict]) -> None:
    """Register the ten endpoints; call inside a `with gr.Blocks()` context."""
    fns = endpoints(service, sentiment, news)
    for fn in fns:
        gr.api(fn, api_name=fn.__name__,
               concurrency_limit=SENTIMENT_CONCURRENCY if fn.__name__ == "analyze_sentiment"
               else DATA_CONCURRENCY)

    def ping() -> dict:
        """A constant answer: the serving floor the benchmark compares real endpoints with."""
        return {"pong": True}

    gr.api(ping, api_name="ping", api_visibility="undocumented", concurrency_limit=None)
    document(get_blocks_context(), fns)


def parse_docstring(fn: Callable) -> tuple[dict[str, str], str]:
    """({parameter: its description}, the Returns text) from a Google-style docstring, read
    the way Gradio's MCP server reads it, so both pages say the same."""
    params: dict[str, str] = {}
    returns: list[str] = []
    section, current = None, None
    for raw in inspect.getdoc(fn).splitlines():
        line = raw.strip()
        if line in ("Args:", "Returns:"):
            section, current = line[:-1], None
            continue
        if not line:
            continue
        if section == "Args":
            name, sep, text = line.partition(":")
            if sep and name.isidentifier() and raw.startswith("    ") and \
                    not raw.startswith("        "):
                current = name
                params[name] = text.strip()
            elif current:
                params[current] += " " + line
        elif section == "Returns":
            returns.append(line)
    return params, ", ".join(returns)


def document(blocks: gr.Blocks, fns: tuple[Callable, ...]) -> None:
    """Put each endpoint's parameter and return descriptions where the "Use via API" page and
    /gradio_api/info read them: gr.api names its components "1st", "2nd"... and leaves their
    descriptions empty, so the page would say only 'The input value that is provided in the
    "1st" Api component'."""
    by_fn = {b.fn: b for b in blocks.fns.values() if b.fn in fns}
    for fn in fns:
        block_fn = by_fn[fn]
        params, returns = parse_docstring(fn)
        for name, component in zip(inspect.signature(fn).parameters, block_fn.inputs):
            component.label = name
            component._api_info = {**component._api_info,
                                   "additional_description": params.get(name, "")}
        for component in block_fn.outputs:
            component.label = "result"
            component._api_info = {**component._api_info, "description": returns}


def json_tool_results(blocks: gr.Blocks) -> None:
    """Make MCP tool results JSON. Gradio's MCP server turns a dict or list result into text
    with str(), a Python repr (single quotes, True, None) that a client cannot parse; this
    encodes those as JSON and leaves files and images to Gradio. No-op without MCP."""
    server = getattr(blocks, "mcp_server_obj", None)
    if server is None:
        return
    original = server.postprocess_output_data

    def postprocess_output_data(data, root_url):
        out = []
        for item in data:
            if isinstance(item, (dict, list)) and not _is_file(item):
                out.append(server.types.TextContent(type="text",
                                                    text=json.dumps(item, default=str)))
            else:
                out.extend(original([item], root_url))
        return out

    server.postprocess_output_data = postprocess_output_data


def _is_file(item: object) -> bool:
    return isinstance(item, dict) and "path" in item and "meta" in item
