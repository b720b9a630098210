"""The public Gradio API: ten typed endpoints over the service functions, for gradio_client, the
"Use via API" page and MCP. Registered with `gr.api`, so they need no UI component; the type hints
and the `Args:` blocks below are what the API page and the MCP tool descriptions show.

No `from __future__ import annotations` here: gr.api reads the hints as real types.
"""
import contextlib
from collections.abc import Callable, Iterator

import gradio as gr

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


def register(service, sentiment, news: Callable[[str, int], dict]) -> None:
    """Register the ten endpoints; call inside a `with gr.Blocks()` context."""

    def get_price(symbol: str) -> dict:
        """Latest USD price of one coin, from whichever provider the router picked.

        Args:
            symbol: Coin ticker, 1-15 letters or digits, e.g. "BTC" or "eth".

        Returns:
            symbol, price (the source's own, checked against the other venues), source
            (provider), timestamp (epoch s of the data), quote_currency (USD or USDT), cached,
            age_s, stale, consensus {price (USD), confidence, spread_bps, status (ok, degraded,
            single_source, stale), sources, excluded {venue: reason}, usdt_usd, usdt_depeg,
            max_age_s}; change_24h_pct, volume_24h and market_cap when the source has them.
        """
        with caller_errors():
            return service.price(symbol)

    def get_venues(symbol: str) -> dict:
        """Every venue's latest quote of one coin, in USD, against the cross-venue consensus:
        who agrees, who was left out and why (an outlier, a stale quote).

        Args:
            symbol: Coin ticker, 1-15 letters or digits, e.g. "BTC".

        Returns:
            symbol, consensus (as in get_price), served {source, price, quote_currency}, and
            venues: one record per venue with venue, kind (exchange or aggregator),
            quote_currency, price (native), price_usd, deviation_bps (from the consensus),
            age_s, used, reason (why it was left out; empty when used).
        """
        with caller_errors():
            return service.venues(symbol)

    def get_prices(symbols: str | list[str]) -> list[dict]:
        """Latest USD prices of several coins at once, filled by batch endpoints where possible.

        Args:
            symbols: 1 to 50 tickers, as a list or a comma-separated string, e.g. "BTC,ETH,SOL".

        Returns:
            One record per ticker, in the order asked: a price answer (as get_price), or
            {symbol, error} for a ticker no provider could answer.
        """
        with caller_errors():
            return service.prices(symbols)

    def get_ohlc(symbol: str, interval: str = "1h", limit: int = 100) -> dict:
        """OHLC candles for one coin, oldest first.

        Args:
            symbol: Coin ticker, e.g. "BTC".
            interval: Candle length: 1m, 5m, 15m, 30m, 1h, 4h, 1d or 1w.
            limit: Number of candles, 1 to 500.

        Returns:
            symbol, timeframe, ohlc (list of {timestamp, open, high, low, close, volume}), count,
            source, cached, age_s, stale.
        """
        with caller_errors():
            return service.ohlc(symbol, interval, limit)

    def get_top_coins(limit: int = 20) -> dict:
        """The largest coins by market capitalisation.

        Args:
            limit: Number of coins, 1 to 100.

        Returns:
            coins (rank, symbol, name, price, market_cap, volume_24h, change_24h_pct, ...),
            count, timestamp, source, cached, age_s, stale.
        """
        with caller_errors():
            return service.top_coins(limit)

    def get_fear_greed() -> dict:
        """The Crypto Fear & Greed index (0 = extreme fear, 100 = extreme greed).

        Returns:
            value, classification, timestamp, time_until_update_s, source, cached, age_s, stale.
        """
        with caller_errors():
            return service.fear_greed()

    def provider_stats() -> list[dict]:
        """Every data provider with its measured state: requests, share of upstream calls,
        success rate, latency, budget left, cooldowns and breakers.

        Returns:
            One record per provider, enabled or not.
        """
        return service.provider_stats()

    def system_status() -> dict:
        """The whole system at a glance, every number measured (the old /api/system/status).

        Returns:
            overall_health, providers_detailed, ai_models, infrastructure, cache, error_details,
            performance, timestamp.
        """
        return service.system_status()

    def analyze_sentiment(text: str) -> dict:
        """Crypto sentiment of one text, by the transformers model on the CPU, or by the VADER
        lexicon while the model is not loaded (the `engine` field says which).

        Args:
            text: The text to classify, 1 to 2000 characters.

        Returns:
            text, label (bullish, neutral or bearish), score (0-1), engine, model.
        """
        with caller_errors():
            return sentiment.analyze([text])[0]

    def news_sentiment(symbol: str = "", limit: int = 20) -> dict:
        """Recent headlines for a coin (or the whole market), each classified, with the share
        bullish / neutral / bearish and the Fear & Greed index.

        Args:
            symbol: Coin ticker, e.g. "BTC"; empty for market-wide news.
            limit: Number of headlines, 1 to 50.

        Returns:
            symbol, headlines (title, url, source, publisher, published, label, score, engine),
            aggregate, sources, engine, fear_greed, stale.
        """
        with caller_errors():
            return news(symbol, limit)

    for fn in (get_price, get_prices, get_venues, get_ohlc, get_top_coins, get_fear_greed, provider_stats,
               system_status, news_sentiment):
        gr.api(fn, api_name=fn.__name__, concurrency_limit=DATA_CONCURRENCY)
    gr.api(analyze_sentiment, api_name="analyze_sentiment",
           concurrency_limit=SENTIMENT_CONCURRENCY)

    def ping() -> dict:
        """A constant answer: the serving floor the benchmark compares real endpoints with."""
        return {"pong": True}

    gr.api(ping, api_name="ping", api_visibility="undocumented", concurrency_limit=None)
