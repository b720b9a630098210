"""API tab: every endpoint's meaning, parameters (allowed values, defaults) and result fields,
with copyable gradio_client, curl and REST examples, and the /ws protocol. Generated from the
same docstrings and signatures as the "Use via API" page and the MCP tools, because that page
shows neither what a result contains nor the REST routes."""
from __future__ import annotations

import inspect
import json
from typing import Any

import gradio as gr

from . import api
from .common import READ

DEFAULT_URL = "http://127.0.0.1:7860"

# Example arguments per endpoint, and the REST route that answers the same question.
EXAMPLES: dict[str, dict[str, Any]] = {
    "get_price": {"symbol": "BTC"},
    "get_prices": {"symbols": "BTC,ETH,SOL"},
    "get_ohlc": {"symbol": "ETH", "interval": "4h", "limit": 50},
    "get_top_coins": {"limit": 10},
    "get_fear_greed": {},
    "provider_stats": {},
    "system_status": {},
    "news_sentiment": {"symbol": "BTC", "limit": 10},
    "analyze_sentiment": {"text": "Bitcoin ETF inflows hit a record"},
}
REST = {
    "get_price": "curl \"$URL/api/market/price?symbol=BTC\"",
    "get_prices": "curl \"$URL/api/market/prices?symbols=BTC,ETH,SOL\"",
    "get_ohlc": "curl \"$URL/api/market/ohlc?symbol=ETH&timeframe=4h&limit=50\"",
    "system_status": "curl \"$URL/api/system/status\"",
    "analyze_sentiment": ("curl -X POST \"$URL/api/sentiment/analyze\" "
                          "-d '{\"text\": \"Bitcoin ETF inflows hit a record\"}'"),
}
WEBSOCKET = '''import asyncio, json, websockets

async def main():
    async with websockets.connect("{ws}/ws") as ws:
        print(await ws.recv())                                   # connected
        await ws.send(json.dumps({{"type": "subscribe", "symbol": "BTC"}}))
        for _ in range(3):
            print(await ws.recv())                               # subscribed, then price ticks

asyncio.run(main())'''


def _type_name(annotation: Any) -> str:
    """str, int, "str or list[str]" (no "|": it would split a Markdown table cell)."""
    name = annotation.__name__ if isinstance(annotation, type) else str(annotation)
    return name.replace("typing.", "").replace(" | ", " or ")


def endpoint_markdown(fn, url: str) -> str:
    """One endpoint: what it does, a parameter table, what it returns, and examples."""
    name = fn.__name__
    params, returns = api.parse_docstring(fn)
    summary = inspect.getdoc(fn).split("\n\n", 1)[0].replace("\n", " ")
    signature = inspect.signature(fn)
    lines = [f"### `/{name}`", "", summary, ""]
    if signature.parameters:
        lines += ["| parameter | type | default | meaning and allowed values |", "|---|---|---|---|"]
        for p in signature.parameters.values():
            default = "required" if p.default is inspect.Parameter.empty else \
                f"`{json.dumps(p.default)}`"
            lines.append(f"| `{p.name}` | `{_type_name(p.annotation)}` | {default} | "
                         f"{params.get(p.name, '')} |")
        lines.append("")
    else:
        lines += ["No parameters.", ""]
    lines += [f"**Returns:** {returns}.", ""]
    args = EXAMPLES.get(name, {})
    call = "".join(f"{k}={v!r}, " for k, v in args.items())
    lines += ["```python", "from gradio_client import Client", "",
              f'client = Client("{url}")',
              f'result = client.predict({call}api_name="/{name}")', "```", ""]
    body = json.dumps(args)
    lines += ["```bash", f"URL={url}",
              f"EVENT_ID=$(curl -s -X POST \"$URL/gradio_api/call/v2/{name}\" "
              f"-H 'Content-Type: application/json' -d '{body}' | "
              "python3 -c 'import sys,json; print(json.load(sys.stdin)[\"event_id\"])')",
              f"curl -sN \"$URL/gradio_api/call/{name}/$EVENT_ID\"     "
              "# event: complete / data: [ {...} ]"]
    if name in REST:
        lines.append(f"{REST[name]}     # the same over the REST route")
    lines += ["```", ""]
    return "\n".join(lines)


def reference_markdown(url: str = DEFAULT_URL) -> str:
    """The whole API reference for a server at `url`."""
    url = url.rstrip("/")
    ws = url.replace("https://", "wss://").replace("http://", "ws://")
    head = (f"## API\n\nThe same data as the tabs, for scripts. Base URL: `{url}`. "
            "Bad input is refused with a message naming the parameter; when no provider can "
            "answer, the error says why and when to retry. MCP: start with `--mcp`, then "
            f"`{url}/gradio_api/mcp/`.\n\n")
    body = "\n".join(endpoint_markdown(fn, url) for fn in api.endpoints(None, None, None))
    socket = ("### WebSocket `/ws`\n\nSend `{\"type\": \"subscribe\", \"symbol\": \"BTC\"}` "
              "for a price message every few seconds; `unsubscribe` and `ping` also work.\n\n"
              f"```python\n{WEBSOCKET.format(ws=ws)}\n```\n")
    return head + body + "\n" + socket


def page_origin(request: gr.Request | None) -> str:
    """scheme://host of the page as the browser sees it (a Space's proxy says so in its
    X-Forwarded-* headers)."""
    if request is None:
        return DEFAULT_URL
    headers = request.headers
    host = headers.get("x-forwarded-host") or headers.get("host")
    scheme = headers.get("x-forwarded-proto") or getattr(request.request.url, "scheme", "http")
    return f"{scheme.split(',')[0].strip()}://{host}" if host else DEFAULT_URL


def build(demo: gr.Blocks) -> dict[str, Any]:
    """The tab's Markdown, filled with this server's own address when the page loads."""
    doc = gr.Markdown(reference_markdown(), elem_id="api-reference")

    def for_this_server(request: gr.Request):
        return reference_markdown(page_origin(request))

    demo.load(for_this_server, None, doc, **READ)
    return {"timers": [], "timer_follows_tab": True, "on_select": [], "reference": doc}
