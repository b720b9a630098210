"""The UI's pure builders: figures and tables from service answers, the status drawer's sections,
and the wiring rules of build_blocks (every UI event private, the API registered inside the
Blocks). No server, no browser."""
from __future__ import annotations

import os
import time
from datetime import datetime, timezone
from types import SimpleNamespace

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import pandas as pd
import plotly.graph_objects as go
import pytest

from routing import InvalidInput, NoProviderAvailable
from ui import figures, formatting as fmt, status_drawer, tables
from ui.common import attempt, message

NOW = 1_795_942_555.0
MINUTE = int(NOW // 60) * 60


def candles(n: int = 5) -> list[dict]:
    out, price = [], 100.0
    for i in range(n):
        close = price + (1 if i % 2 == 0 else -2)
        out.append({"timestamp": 1_795_900_000 + i * 3600, "open": price, "high": price + 3,
                    "low": close - 1, "close": close, "volume": 10.0 + i})
        price = close
    return out


def ohlc_answer(n: int = 5, **meta) -> dict:
    return {"symbol": "BTC", "timeframe": "1h", "ohlc": candles(n), "count": n,
            "source": "binance", "cached": False, "age_s": 0.0, "stale": False, **meta}


def provider_stats() -> list[dict]:
    return [
        {"name": "binance", "label": "Binance", "enabled": True, "state": "online",
         "upstream_calls": 6, "share": 0.6, "success_rate": 1.0, "rate_limit_hits": 0,
         "latency_ms": {"p50": 52.4, "p95": 64.0},
         "rate_limit": {"budget": 4800, "remaining": 4794},
         "cooldown_until": None, "breaker_open_until": None, "last_error": None},
        {"name": "coingecko", "label": "CoinGecko", "enabled": True, "state": "rate_limited",
         "upstream_calls": 3, "share": 0.3, "success_rate": 0.5, "rate_limit_hits": 2,
         "latency_ms": {"p50": 8.4, "p95": 9.0}, "rate_limit": {"budget": 24, "remaining": 0},
         "cooldown_until": NOW + 60, "breaker_open_until": None,
         "last_error": "HTTP 429: Too Many Requests",
         "reason": "rate limited by <CoinGecko> for 60 s more"},
        {"name": "kraken", "label": "Kraken", "enabled": True, "state": "online",
         "upstream_calls": 1, "share": 0.1, "success_rate": 1.0, "rate_limit_hits": 0,
         "latency_ms": {"p50": 120.0, "p95": 120.0}, "rate_limit": {"budget": 1, "remaining": 1}},
        {"name": "okx", "label": "OKX", "enabled": True, "state": "online", "upstream_calls": 0,
         "share": 0.0, "success_rate": None, "latency_ms": {"p50": None, "p95": None},
         "rate_limit": {"budget": 16, "remaining": 16}},
        {"name": "coincap", "label": "coincap", "enabled": False, "state": "disabled",
         "reason": "needs COINCAP_API_KEY", "upstream_calls": 0, "share": 0.0},
    ]


def series() -> list[dict]:
    return [
        {"minute": MINUTE - 120, "provider": "binance", "calls": 2},
        {"minute": MINUTE - 120, "provider": "coingecko", "calls": 1},
        {"minute": MINUTE - 60, "provider": "binance", "calls": 3},
        {"minute": MINUTE, "provider": "binance", "calls": 1},
        {"minute": MINUTE, "provider": "coingecko", "calls": 2},
        {"minute": MINUTE, "provider": "kraken", "calls": 1},
        {"minute": MINUTE - 3 * 3600, "provider": "okx", "calls": 9},     # outside the window
    ]


def annotation_texts(fig: go.Figure) -> list[str]:
    return [a.text for a in fig.layout.annotations]


# -- formatting ------------------------------------------------------------------------------------
@pytest.mark.parametrize("value, text", [
    (86589.5, "$86,589.50"), (116.963, "$116.96"), (2.18344, "$2.1834"), (0.52341, "$0.5234"),
    (0.0000123456, "$0.00001235"), (0, "$0.00"), (None, "—"), (float("nan"), "—"),
])
def test_price_format(value, text):
    assert fmt.price(value) == text


@pytest.mark.parametrize("value, text", [
    (1.7e12, "$1.70 T"), (11_867_869_442, "$11.87 B"), (5e6, "$5.00 M"), (1234, "$1.23 K"),
    (12, "$12"), (None, "—"),
])
def test_compact_format(value, text):
    assert fmt.compact(value, "$") == text


def test_percent_and_clock_format():
    assert fmt.pct(5.128) == "+5.13%"
    assert fmt.pct(-0.2) == "-0.20%"
    assert fmt.pct(0.6429, ratio=True, signed=False) == "64.29%"
    assert fmt.clock(NOW) == time.strftime("%H:%M:%SZ", time.gmtime(NOW))
    assert fmt.plain("HTTP 500: <html><h1>Oops</h1></html> <h") == "HTTP 500: Oops"


# -- figures ---------------------------------------------------------------------------------------
def test_candlestick_has_the_ohlc_arrays_and_a_volume_trace():
    answer = ohlc_answer(6)
    fig = figures.candlestick(answer)
    kinds = [t.type for t in fig.data]
    assert kinds == ["candlestick", "bar"]
    candle, volume = fig.data
    src = answer["ohlc"]
    assert list(candle.open) == [c["open"] for c in src]
    assert list(candle.high) == [c["high"] for c in src]
    assert list(candle.low) == [c["low"] for c in src]
    assert list(candle.close) == [c["close"] for c in src]
    assert list(volume.y) == [c["volume"] for c in src]
    assert list(candle.x) == list(volume.x)
    assert candle.x[0] == datetime.fromtimestamp(src[0]["timestamp"], timezone.utc).replace(
        tzinfo=None)                                          # drawn in UTC, whatever the browser
    assert volume.yaxis == "y2" and volume.xaxis == "x2"     # its own subplot under the candles
    colours = list(volume.marker.color)
    assert colours[0] == figures.UP and colours[1] == figures.DOWN   # up candle, down candle
    assert "BTC" in fig.layout.title.text and "binance" in fig.layout.title.text
    assert fig.layout.xaxis.rangeslider.visible is False


def test_candlestick_without_candles_is_a_readable_empty_figure():
    fig = figures.candlestick({"symbol": "BTC", "timeframe": "1h", "ohlc": []})
    assert len(fig.data) == 0
    assert any("No candles" in t for t in annotation_texts(fig))
    assert len(figures.candlestick(None).data) == 0


def test_price_axis_ticks_follow_the_price_size():
    def scaled(factor: float) -> dict:
        answer = ohlc_answer()
        for c in answer["ohlc"]:
            for k in ("open", "high", "low", "close"):
                c[k] *= factor
        return answer

    assert figures.candlestick(scaled(1000)).layout.yaxis.tickformat == ",.0f"
    assert figures.candlestick(scaled(1)).layout.yaxis.tickformat == ",.2f"
    assert figures.candlestick(scaled(0.001)).layout.yaxis.tickformat == ",.4f"
    assert figures.candlestick(scaled(1e-6)).layout.yaxis.tickformat == ",.8~f"


def test_share_chart_slices_are_the_providers_shares():
    stats = provider_stats()
    fig = figures.provider_share(stats)
    (pie,) = fig.data
    assert pie.type == "pie" and pie.hole > 0
    values = dict(zip(pie.customdata, pie.values))
    assert set(values) == {"binance", "coingecko", "kraken"}        # no slice for 0 calls
    total = sum(values.values())
    for p in stats:
        if p["upstream_calls"]:
            assert values[p["name"]] / total == pytest.approx(p["share"])
    assert sum(v / total for v in values.values()) == pytest.approx(
        sum(p["share"] for p in stats))
    assert any("10" in t for t in annotation_texts(fig))             # total calls in the hole


def test_share_chart_uses_the_given_provider_colours():
    stats = provider_stats()
    colors = figures.provider_colors(p["name"] for p in stats)
    (pie,) = figures.provider_share(stats, colors).data
    assert list(pie.marker.colors) == [colors[n] for n in pie.customdata]


def test_share_chart_without_calls_is_empty_not_an_error():
    stats = [dict(p, upstream_calls=0, share=0.0) for p in provider_stats()]
    fig = figures.provider_share(stats)
    assert len(fig.data) == 0 and any("No upstream calls" in t for t in annotation_texts(fig))
    assert len(figures.provider_share([]).data) == 0


def test_time_series_stacks_one_trace_per_provider():
    colors = figures.provider_colors(["binance", "coingecko", "kraken", "okx"])
    fig = figures.calls_timeseries(series(), colors, {"binance": "Binance"}, window_minutes=60,
                                   now=NOW)
    assert fig.layout.barmode == "stack"
    by_name = {t.name: t for t in fig.data}
    assert set(by_name) == {"Binance", "coingecko", "kraken"}        # okx is outside the window
    assert all(t.type == "bar" for t in fig.data)
    assert sum(by_name["Binance"].y) == 6
    assert sum(by_name["coingecko"].y) == 3
    assert list(by_name["kraken"].y) == [1]
    assert by_name["Binance"].marker.color == colors["binance"]
    # the same minute of different providers shares one x, so the bars stack
    assert by_name["kraken"].x[0] in list(by_name["Binance"].x)


def test_time_series_without_data_in_the_window_is_empty():
    fig = figures.calls_timeseries(series()[-1:], now=NOW)
    assert len(fig.data) == 0 and annotation_texts(fig)
    assert len(figures.calls_timeseries([], now=NOW).data) == 0


def test_fear_greed_gauge_and_its_error_state():
    fig = figures.fear_greed_gauge({"value": 81, "classification": "Extreme Greed",
                                    "source": "alternative_me"})
    (gauge,) = fig.data
    assert gauge.type == "indicator" and gauge.value == 81
    assert "Extreme Greed" in gauge.title.text
    empty = figures.fear_greed_gauge({"error": "no provider"})
    assert len(empty.data) == 0 and "no provider" in annotation_texts(empty)[0]


def test_sentiment_shares_add_up_to_100_percent():
    fig = figures.sentiment_shares({"bullish": 0.6, "neutral": 0.2, "bearish": 0.2, "count": 5})
    assert [t.name for t in fig.data] == ["Bullish", "Neutral", "Bearish"]
    assert sum(t.x[0] for t in fig.data) == pytest.approx(100)
    assert len(figures.sentiment_shares({"count": 0}).data) == 0


# -- tables ----------------------------------------------------------------------------------------
def shown(df: pd.DataFrame) -> list[dict]:
    """The text each cell shows (the Styler's display values, as Gradio sends them)."""
    lines = tables.styled(df).to_string(delimiter="\t").splitlines()
    header = lines[0].split("\t")[1:]
    return [dict(zip(header, line.split("\t")[1:])) for line in lines[1:]]


def assert_types(df: pd.DataFrame, numbers: set[str]) -> None:
    """Number columns are float64 (so they sort as numbers), the others text."""
    for column in df.columns:
        if column in numbers:
            assert df[column].dtype == "float64", column
        else:
            assert pd.api.types.is_string_dtype(df[column]), column
    assert tables.datatypes(df.columns) == ["number" if c in numbers else "str"
                                            for c in df.columns]


def test_watchlist_keeps_numbers_and_shows_them_formatted():
    rows = [
        {"symbol": "BTC", "price": 86589.5, "source": "binance", "timestamp": NOW,
         "quote_currency": "USDT", "cached": True, "age_s": 3.21, "stale": False,
         "change_24h_pct": 5.128, "volume_24h": 11_867_869_442.4},
        {"symbol": "ETH", "price": 3080.15, "source": "coingecko", "timestamp": NOW,
         "quote_currency": "USD", "cached": True, "age_s": 400.0, "stale": True,
         "change_24h_pct": -1.5, "volume_24h": 9.7e9, "market_cap": 3.718e11},
        {"symbol": "DOGE", "error": "no provider could answer quote DOGE"},
    ]
    df = tables.watchlist(rows)
    assert list(df.columns) == tables.WATCHLIST_COLUMNS
    assert_types(df, {"Price", "Consensus", "Spread (bps)", "24h %", "Volume 24h", "Market cap",
                      "Age (s)"})
    assert df["Price"].tolist()[:2] == [86589.5, 3080.15] and pd.isna(df["Price"][2])
    assert df["24h %"].tolist()[:2] == [5.128, -1.5]
    btc, eth, doge = shown(df)
    assert btc["Price"] == "$86,589.50" and btc["24h %"] == "▲\u00a0+5.13%"
    assert btc["Volume 24h"] == "$11.87 B" and btc["Market cap"] == "—"
    assert btc["Source"] == "binance (USDT)" and btc["Age (s)"] == "3.2"
    assert btc["Cached"] == "✓ cached" and btc["Stale"] == ""
    assert eth["24h %"] == "▼\u00a0-1.50%" and eth["Market cap"] == "$371.80 B"
    assert eth["Source"] == "coingecko" and eth["Stale"] == "⚠ stale"
    assert doge["Price"] == "—" and doge["24h %"] == "—" and "unavailable" in doge["Source"]
    assert btc["Consensus"] == "—" and btc["Venues"] == "—"          # an answer without one


def test_prices_sort_as_numbers_not_as_text():
    prices = [0.18, 121.5, 1.99, 16.1, 0.47, 11.84]
    df = tables.watchlist([{"symbol": f"C{i}", "price": p, "source": "binance",
                            "change_24h_pct": p - 5} for i, p in enumerate(prices)])
    assert df.sort_values("Price")["Price"].tolist() == [0.18, 0.47, 1.99, 11.84, 16.1, 121.5]
    order = df.sort_values("Price").index
    assert [shown(df)[i]["Price"] for i in order] == [
        "$0.1800", "$0.4700", "$1.9900", "$11.84", "$16.10", "$121.50"]
    assert df.sort_values("24h %")["24h %"].tolist() == sorted(p - 5 for p in prices)


def test_top_coins_table():
    data = {"coins": [{"rank": 1, "symbol": "BTC", "name": "Bitcoin", "price": 86609.93,
                       "market_cap": 1.7278e12, "change_24h_pct": 5.3, "volume_24h": 3.56e10,
                       "source": "coinpaprika"}], "source": "coinpaprika"}
    df = tables.top_coins(data)
    assert list(df.columns) == tables.TOP_COINS_COLUMNS
    assert_types(df, {"#", "Price", "24h %", "Market cap", "Volume 24h"})
    assert df.iloc[0].tolist() == [1.0, "Bitcoin (BTC)", 86609.93, 5.3, 1.7278e12, 3.56e10,
                                   "coinpaprika"]
    assert list(shown(df)[0].values()) == ["1", "Bitcoin (BTC)", "$86,609.93", "▲\u00a0+5.30%",
                                           "$1.73 T", "$35.60 B", "coinpaprika"]


def test_provider_table_columns_order_and_values():
    df = tables.providers(provider_stats())
    assert list(df.columns) == tables.PROVIDER_COLUMNS
    assert_types(df, {"Share %", "Calls", "p50 ms", "p95 ms", "Success %", "Rate-limit hits",
                      "Budget left / cap"})
    assert df["Provider"].tolist() == ["Binance", "CoinGecko", "Kraken", "OKX", "coincap"]
    assert df["Share %"].tolist() == [60.0, 30.0, 10.0, 0.0, 0.0]
    assert df["Budget left / cap"].tolist()[:4] == [4794.0, 0.0, 1.0, 16.0]
    rows = {r["Provider"]: r for r in shown(df)}
    gecko = rows["CoinGecko"]
    assert gecko["State"] == "● rate limited"
    assert gecko["Share %"] == "30.0%" and gecko["Calls"] == "3"
    assert gecko["p50 ms"] == "8.4" and gecko["p95 ms"] == "9.0"
    assert gecko["Success %"] == "50.0%" and gecko["Rate-limit hits"] == "2"
    assert gecko["Budget left / cap"] == "0 / 24"
    assert gecko["Cooldown until (UTC)"] == fmt.clock(NOW + 60)
    assert gecko["Last error"] == "rate limited by for 60 s more"     # the state's reason, markup
                                                                       # stripped
    binance = rows["Binance"]
    assert binance["p50 ms"] == "52" and binance["p95 ms"] == "64"
    assert binance["Budget left / cap"] == "4,794 / 4,800"
    assert binance["Cooldown until (UTC)"] == "" and binance["Last error"] == ""
    assert rows["OKX"]["Success %"] == "—" and rows["coincap"]["Budget left / cap"] == "—"
    assert rows["coincap"]["Last error"] == "needs COINCAP_API_KEY"


def test_key_columns_are_what_a_phone_shows():
    df = tables.providers(provider_stats())
    key = tables.visible(df, show_all=False)
    assert list(key.columns) == ["Provider", "State", "Share %", "Success %"]
    assert key["Share %"].dtype == "float64"
    assert tables.datatypes(key.columns) == ["str", "str", "number", "number"]
    assert tables.visible(df, show_all=True) is df
    assert list(tables.visible(tables.watchlist([]), False).columns) == ["Symbol", "Price", "24h %"]
    # the key columns share the width in the proportions of the whole table's columns
    assert tables.widths(key.columns) == ["33%", "27%", "19%", "21%"]
    assert tables.widths(["Provider", "Count", "Last message"]) == ["20%", "20%", "60%"]


def test_recent_errors_and_headlines_tables():
    errors = tables.recent_errors([{"provider": "kraken", "type": "http", "count": 3,
                                    "message": "HTTP 500", "action": "tried the next provider",
                                    "last_seen": time.time() - 5}])
    assert list(errors.columns) == tables.ERROR_COLUMNS
    assert errors.iloc[0].tolist()[:5] == ["kraken", 3.0, "http", "HTTP 500",
                                          "tried the next provider"]
    news = {"headlines": [{"title": "Bitcoin jumps", "source": "coindesk", "publisher": "CoinDesk",
                           "published": NOW, "label": "bullish", "score": 0.4215}]}
    df = tables.headlines(news)
    assert list(df.columns) == tables.HEADLINE_COLUMNS
    assert_types(df, {"Score"})
    assert df.iloc[0].tolist()[1:] == ["Bitcoin jumps", "▲\u00a0bullish", 0.4215, "CoinDesk"]
    assert list(shown(df)[0].values())[1:] == ["Bitcoin jumps", "▲\u00a0bullish", "0.42",
                                              "CoinDesk"]


@pytest.mark.parametrize("build, columns", [
    (lambda: tables.watchlist([]), tables.WATCHLIST_COLUMNS),
    (lambda: tables.top_coins(None), tables.TOP_COINS_COLUMNS),
    (lambda: tables.providers([]), tables.PROVIDER_COLUMNS),
    (lambda: tables.recent_errors([]), tables.ERROR_COLUMNS),
    (lambda: tables.headlines({"headlines": []}), tables.HEADLINE_COLUMNS),
])
def test_empty_data_gives_a_readable_one_row_table(build, columns):
    df = build()
    assert isinstance(df, pd.DataFrame) and list(df.columns) == columns
    text = [c for c in df.columns if tables.datatypes([c]) == ["str"]][0]
    assert len(df) == 1 and df.iloc[0][text].startswith("No ")
    numbers = [c for c in df.columns if df[c].dtype == "float64"]
    assert all(shown(df)[0][c] == "—" for c in numbers)


def test_styled_tables_mark_changes_and_states_by_sign_and_tone():
    html = tables.styled(tables.providers(provider_stats())).to_html()
    assert "var(--ui-down)" in html and "var(--ui-up)" in html and "var(--ui-muted)" in html
    df = tables.top_coins({"coins": [
        {"rank": 1, "symbol": "X", "name": "X", "price": 1, "market_cap": 1,
         "change_24h_pct": -2.0},
        {"rank": 2, "symbol": "Y", "name": "Y", "price": 1, "market_cap": 1,
         "change_24h_pct": 0.0}]})
    html = tables.styled(df).to_html()
    assert "var(--ui-down)" in html and "var(--ui-up)" not in html
    assert [r["24h %"] for r in shown(df)] == ["▼\u00a0-2.00%", "■\u00a0+0.00%"]


# -- service errors become messages ----------------------------------------------------------------
def test_attempt_turns_service_errors_into_messages():
    def bad_input():
        raise InvalidInput("interval", "'2m' is not supported; use one of 1m, 5m")

    def unavailable():
        raise NoProviderAvailable("quote BTC", {"binance": "rate limited"}, 12)

    def bug():
        raise KeyError("oops")

    assert attempt(bad_input) == (None, "interval: '2m' is not supported; use one of 1m, 5m")
    value, msg = attempt(unavailable)
    assert value is None and msg == ("The price source is failing right now; there is nothing "
                                     "saved to show yet. Next retry in 12 s.")
    assert msg.details == {"binance": "rate limited"}            # one click away
    html = message(msg, "error")
    assert "<details" in html and "<b>binance</b>: rate limited" in html
    value, msg = attempt(bug)
    assert value is None and "server log" in msg
    assert "KeyError" not in msg and "Traceback" not in msg
    assert attempt(lambda: 42) == (42, None)


# -- the status drawer -----------------------------------------------------------------------------
def system_status() -> dict:
    return {
        "overall_health": "degraded",
        "overall_summary": "1 of 3 providers have problems: CoinGecko (rate limited)",
        "providers_detailed": [
            {"name": "binance", "label": "Binance", "status": "online", "response_time_ms": 52.0,
             "success_rate": 100.0, "recent_calls": 6, "last_check": NOW - 3, "error": None,
             "cached_until": None, "reason": "6 of the last 6 calls succeeded",
             "errors_last_hour": 0},
            {"name": "coingecko", "label": "CoinGecko", "status": "rate_limited",
             "state_label": "rate limited", "response_time_ms": 8.0, "success_rate": 50.0,
             "recent_calls": 4, "last_check": NOW - 30, "error": "HTTP 429", "status_code": 429,
             "cached_until": NOW + 60, "errors_last_hour": 2,
             "reason": "rate limited by CoinGecko until 09:00 UTC (in 1 min)"},
            {"name": "okx", "label": "OKX", "status": "idle", "state_label": "idle",
             "response_time_ms": None, "success_rate": None, "recent_calls": 0,
             "last_check": None, "reason": "not used yet", "errors_last_hour": 0},
            {"name": "coincap", "label": "coincap", "status": "disabled",
             "reason": "needs COINCAP_API_KEY"},
        ],
        "ai_models": {"transformers_loaded": True, "model": "ElKulako/cryptobert",
                      "state": "loaded", "device": "CPU", "engine": "transformers",
                      "inferences": 12, "avg_ms": 35.5, "last_error": None},
        "infrastructure": {"cache_backend": "sqlite", "cache_entries": 14,
                           "http_cache_entries": 5, "data_dir": "/data", "uptime_s": 75.0,
                           "queue": {"gradio_queue_size": 0}},
        "cache": {"entries_by_kind": {"quote": 10, "candles": 4}, "hit_rate": 0.6429,
                  "stale_served": 2},
        "error_details": [{"provider": "coingecko", "type": "rate_limit", "count": 2,
                           "message": "HTTP 429 <b>slow down</b>",
                           "action": "cooldown 60 s, tried the next provider",
                           "last_seen": NOW - 10}],
        "performance": {"avg_response_ms": 11.76, "fastest_provider": "binance",
                        "fastest_time_ms": 52.0, "cache_hit_rate": 0.6429,
                        "upstream_per_request": 0.35, "requests": 20, "upstream_calls": 7,
                        "errors": 1, "provider_errors_last_hour": 2},
        "timestamp": NOW,
    }


def test_drawer_renders_all_six_sections_from_one_status():
    service = SimpleNamespace(system_status=system_status)
    overall, providers, ai, infra, cache, errors, perf, footer, shown_at = \
        status_drawer.drawer_view(service)
    assert "Degraded" in overall and "1 of 3 providers online, 1 not used yet" in overall
    assert "CoinGecko (rate limited)" in overall
    assert "Binance" in providers and "52 ms" in providers
    assert "Success: 100% of 6 recent calls" in providers and "Last: 3 s ago" in providers
    assert "Rate limited (429)" in providers
    assert "rate limited by CoinGecko until 09:00 UTC (in 1 min) | 2 errors in the last hour" \
        in providers
    assert "Idle" in providers and "not used yet" in providers
    assert "needs COINCAP_API_KEY" in providers
    assert "Loaded (CPU mode)" in ai and "ElKulako/cryptobert" in ai
    assert "SQLite, 5 responses" in infra and "14 answers" in infra and "1 min 15 s" in infra
    assert "gradio queue size 0" in infra
    assert "quote 10, candles 4" in cache and "64.29%" in cache
    assert "2 provider errors in the last hour" in errors
    assert "coingecko" in errors and "2× rate_limit" in errors and "slow down" in errors
    assert "<b>slow down" not in errors and "Action: cooldown 60 s" in errors
    assert "binance (52 ms)" in perf and "0.35" in perf and "12 ms" in perf
    assert "User requests that failed" in perf and "Provider errors (last hour)" in perf
    assert "Last update: status from " + fmt.clock(NOW).rstrip("Z") + " UTC, " in footer
    assert shown_at == NOW                   # what the drawer shows is the status of NOW
    assert status_drawer.SECTIONS == ["All Providers", "AI Models", "Infrastructure",
                                      "Cache & Resources", "Recent Errors", "Performance"]


def test_drawer_shows_an_error_message_when_status_fails():
    def broken():
        raise RuntimeError("database is locked")

    parts = status_drawer.drawer_view(SimpleNamespace(system_status=broken))
    assert len(parts) == 9 and "server log" in parts[1] and "Last update" in parts[-2]
    assert parts[-1] is None                 # nothing shown yet: nothing to keep next time


def test_drawer_with_no_errors_says_so():
    status = dict(system_status(), error_details=[])
    assert "No provider errors in the last hour" in status_drawer.errors_section(status)


# -- wiring rules of build_blocks ------------------------------------------------------------------
def test_build_blocks_keeps_ui_events_private_and_registers_the_api_inside():
    import gradio as gr

    import ui

    seen = {}

    def register_api():
        seen["root"] = gr.context.Context.root_block

        def get_price(symbol: str) -> dict:
            """A stand-in for the colleague's endpoints."""
            return {"symbol": symbol}

        gr.api(get_price, api_name="get_price")

    demo = ui.build_blocks(SimpleNamespace(), SimpleNamespace(), lambda s, n: {},
                           simulated=True, register_api=register_api)
    assert seen["root"] is demo
    public = {f.api_name for f in demo.fns.values() if f.api_visibility != "private"}
    assert public == {"get_price"}
    config = demo.get_config_file()
    sidebars = [c for c in config["components"] if c.get("type") == "sidebar"]
    assert len(sidebars) == 1
    assert sidebars[0]["props"]["position"] == "right" and sidebars[0]["props"]["open"] is False
    html = [c["props"].get("value") or "" for c in config["components"] if c.get("type") == "html"]
    assert any(ui.SIMULATED_BANNER in h for h in html)
    accordions = [c["props"]["label"] for c in config["components"]
                  if c.get("type") == "accordion"]
    assert accordions == status_drawer.SECTIONS
    tabs = [c["props"]["label"] for c in config["components"] if c.get("type") == "tabitem"]
    assert tabs == ["Prices", "Providers", "AI Models", "API"]


def test_no_refresh_covers_a_table_or_chart_and_timers_never_pile_up():
    """Every event that writes a table or a chart shows its progress, if at all, only on a
    panel head (the "refreshing…" note), never as Gradio's full overlay over the content; and a
    timer tick is not sent again while the last one still runs."""
    import ui

    config = ui.build_blocks(SimpleNamespace(), SimpleNamespace(),
                             lambda s, n: {}).get_config_file()
    kinds = {c["id"]: c.get("type") for c in config["components"]}
    heads = {c["id"] for c in config["components"]
             if "live-head" in (c["props"].get("elem_classes") or [])}
    assert len(heads) == 7      # watchlist, chart, top coins, fear & greed, providers, news, drawer
    content = {"dataframe", "plot"}
    writers = [d for d in config["dependencies"] if d["backend_fn"]
               and any(kinds[o] in content for o in d["outputs"])]
    assert len(writers) >= 15
    for dep in writers:
        assert dep["show_progress"] in ("minimal", "hidden"), dep
        if dep["show_progress"] == "minimal":
            assert dep["show_progress_on"] and set(dep["show_progress_on"]) <= heads, dep
    ticks = [d for d in config["dependencies"] if d["backend_fn"]
             and any(event == "tick" for _, event in d["targets"])]
    assert len(ticks) == 7 and all(d["trigger_mode"] == "once" for d in ticks)


def test_build_blocks_without_simulation_has_no_banner():
    import ui

    demo = ui.build_blocks(SimpleNamespace(), SimpleNamespace(), lambda s, n: {})
    html = [c["props"].get("value") or "" for c in demo.get_config_file()["components"]
            if c.get("type") == "html"]
    assert not any(ui.SIMULATED_BANNER in h for h in html)


# -- the model panel -------------------------------------------------------------------------------
@pytest.mark.parametrize("state, badge", [
    ("not_started", "Not started"), ("loading", "Loading…"), ("loaded", "Loaded"),
    ("failed", "Failed"), ("disabled", "Disabled"), ("not_installed", "Not installed"),
])
def test_model_status_card_has_a_badge_for_every_state(state, badge):
    from ui.ai_models import status_html

    html = status_html({"state": state, "model": "ElKulako/cryptobert", "engine": "lexicon",
                        "transformers_version": None, "torch_version": None,
                        "last_error": "OSError: <no files>" if state == "failed" else None})
    assert f">{badge}</span>" in html and f'data-state="{state}"' in html
    assert "ElKulako/cryptobert" in html
    if state == "not_installed":
        assert "not installed" in html
    if state == "failed":
        assert "Last error: OSError: &lt;no files&gt;" in html       # escaped, one line


def test_model_status_card_shows_measured_numbers():
    from ui.ai_models import status_html

    html = status_html({"state": "loaded", "model": "m", "engine": "transformers",
                        "transformers_version": "5.24.0", "torch_version": "2.13.0+cpu",
                        "device": "CPU", "threads": 2, "load_time_s": 4.2,
                        "parameters": 124_645_632, "memory_mb": 475.5, "inferences": 30,
                        "lexicon_inferences": 2, "avg_ms": 35.0, "p95_ms": 60.0,
                        "max_length": 128})
    for text in ("5.24.0", "2.13.0+cpu", "CPU, 2 threads", "4.2 s", "124.65 M", "475.5 MB",
                 "35 ms / 60 ms", ">30<", ">128<"):
        assert text in html


def test_analysis_result_names_label_score_and_engine():
    from ui.ai_models import analysis_html

    html = analysis_html({"text": "x", "label": "bullish", "score": 0.8731,
                          "engine": "transformers", "model": "ElKulako/cryptobert"})
    assert "Bullish" in html and "score 0.87" in html and "engine: transformers" in html
    html = analysis_html({"text": "x", "label": "bearish", "score": 0.5, "engine": "lexicon"})
    assert "Bearish" in html and "lexicon fallback" in html


def venues_answer() -> dict:
    return {"symbol": "BTC",
            "consensus": {"price": 90000.0, "status": "ok", "spread_bps": 4.2, "band_bps": 25.0,
                          "sources": ["binance", "kraken", "coinbase"],
                          "excluded": {"okx": "outlier: 5.0 % above the median of 3 venues"}},
            "venues": [
                {"venue": "binance", "quote_currency": "USDT", "price": 90010.0,
                 "price_usd": 90005.0, "deviation_bps": 0.6, "age_s": 1.0, "used": True,
                 "reason": ""},
                {"venue": "okx", "quote_currency": "USDT", "price": 94500.0,
                 "price_usd": 94495.0, "deviation_bps": 499.4, "age_s": 2.0, "used": False,
                 "reason": "outlier: 5.0 % above the median of 3 venues"},
                {"venue": "kraken", "quote_currency": "USD", "price": 89990.0,
                 "price_usd": 89990.0, "deviation_bps": -1.1, "age_s": 0.5, "used": True,
                 "reason": ""}]}


def test_venues_chart_shows_deviations_and_marks_excluded_venues_red():
    fig = figures.venues_chart(venues_answer())
    (bar,) = fig.data
    assert list(bar.y) == ["kraken", "binance", "okx"]          # by deviation
    assert list(bar.x) == [-1.1, 0.6, 499.4]
    assert list(bar.marker.color) == [figures.NEUTRAL, figures.NEUTRAL, figures.DOWN]
    assert "outlier: 5.0 %" in bar.customdata[2][3]
    assert "$90,000" in fig.layout.title.text and "ok" in fig.layout.title.text


def test_venues_chart_without_quotes_is_a_readable_empty_figure():
    fig = figures.venues_chart({"symbol": "XMR", "venues": [], "consensus": {}})
    assert len(fig.data) == 0 and "No venue quotes for XMR" in fig.layout.annotations[0].text


def test_watchlist_header_marks_coins_whose_venues_disagree():
    from ui.prices import disagreement

    rows = [{"symbol": "BTC", "consensus": venues_answer()["consensus"]},
            {"symbol": "ETH", "consensus": {"sources": ["a", "b", "c", "d"], "excluded": {}}}]
    assert disagreement(rows) == "⚠ venues disagree: BTC (okx)"
    assert disagreement(rows[1:]) == "consensus of 4 venues"
    assert disagreement([{"symbol": "X", "error": "none"}]) == ""


def test_watchlist_shows_the_consensus_spread_and_venues_and_marks_disagreement():
    rows = [{"symbol": "BTC", "price": 90010.0, "source": "binance", "quote_currency": "USDT",
             "cached": False, "age_s": 0.1, "stale": False,
             "consensus": venues_answer()["consensus"]},
            {"symbol": "ETH", "price": 3000.0, "source": "kraken", "quote_currency": "USD",
             "cached": True, "age_s": 1.0, "stale": False,
             "consensus": {"price": 3000.5, "spread_bps": 3.04, "status": "ok",
                           "sources": ["a", "b", "c", "d"], "excluded": {}}},
            {"symbol": "DOGE", "error": "no provider could answer quote DOGE"}]
    df = tables.watchlist(rows)
    assert list(df.columns[:6]) == ["Symbol", "Price", "Consensus", "Spread (bps)", "Venues",
                                    "24h %"]
    assert_types(df, {"Price", "Consensus", "Spread (bps)", "24h %", "Volume 24h", "Market cap",
                      "Age (s)"})
    assert df["Consensus"].tolist()[:2] == [90000.0, 3000.5]     # sorts as numbers
    assert df["Spread (bps)"].tolist()[:2] == [4.2, 3.04]
    btc, eth, doge = shown(df)
    assert (btc["Consensus"], btc["Spread (bps)"], btc["Venues"]) == \
        ("$90,000.00", "4.2", "⚠ 3 (okx out)")
    assert (eth["Consensus"], eth["Spread (bps)"], eth["Venues"]) == ("$3,000.50", "3.0", "4")
    assert doge["Consensus"] == fmt.DASH and doge["Venues"] == fmt.DASH
    # a phone keeps Symbol, Price and 24h %; the consensus columns come with "Show all columns"
    assert list(tables.visible(df, False).columns) == ["Symbol", "Price", "24h %"]
    assert "color: var(--ui-warn)" in tables.styled(df).to_html()    # the disagreeing row


def test_every_provider_state_word_has_a_table_tone():
    from routing.status import STATES

    for state, word in STATES.items():
        assert word in tables.STATE_TONE, state
    table = tables.providers([{"name": "kraken", "label": "Kraken", "state": "idle"}])
    assert 'color: var(--ui-muted)' in tables.styled(table).to_html()


# -- the API tab -----------------------------------------------------------------------------------
def test_api_reference_documents_every_endpoint_from_its_docstring():
    from ui import api
    from ui.api_reference import reference_markdown

    doc = reference_markdown("https://someone-crypto.hf.space/")
    for fn in api.endpoints(None, None, None):
        assert f"### `/{fn.__name__}`" in doc
        assert f'api_name="/{fn.__name__}"' in doc
        assert f'"$URL/gradio_api/call/v2/{fn.__name__}"' in doc
    assert ("| `interval` | `str` | `\"1h\"` | Candle length, one of 1m, 5m, 15m, 30m, 1h, 4h, "
            "1d, 1w (default 1h). |") in doc
    assert "| `symbols` | `str or list[str]` | required |" in doc
    assert ("**Returns:** symbol, timeframe, ohlc (list of {timestamp, open, high, low, close, "
            "volume}), count, source, cached, age_s, stale.") in doc
    assert 'client.predict(symbol=\'ETH\', interval=\'4h\', limit=50, api_name="/get_ohlc")' in doc
    assert "-d '{\"symbol\": \"ETH\", \"interval\": \"4h\", \"limit\": 50}'" in doc
    assert 'curl "$URL/api/market/ohlc?symbol=ETH&timeframe=4h&limit=50"' in doc
    assert 'Client("https://someone-crypto.hf.space")' in doc
    assert 'websockets.connect("wss://someone-crypto.hf.space/ws")' in doc
