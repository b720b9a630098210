"""The simulator: every fake provider on its own loopback port, one market behind them all."""
from __future__ import annotations

import threading
from typing import Any

from .aggregators import AGGREGATORS
from .exchanges import EXCHANGES
from .market import Market
from .news import FEEDS, Newsroom
from .server import ProviderApp, ProviderServer

# Order of the BASE_URL lines and of ports under --port N (N, N+1, ...); 0 or None: free ports.
APPS: tuple[type[ProviderApp], ...] = (
    AGGREGATORS[0], *EXCHANGES, *AGGREGATORS[1:], *FEEDS)


def provider_key(name: str) -> str:
    """"BINANCE", "alternative.me", "Alternative-Me" -> the registry name ("alternative_me")."""
    return name.strip().lower().replace(".", "_").replace("-", "_")


class Simulator:
    """Fake CoinGecko, Binance, Coinbase, Kraken, OKX, KuCoin, Bybit, CoinPaprika, CryptoCompare,
    CoinCap, alternative.me, CoinDesk and Cointelegraph, each a real HTTP server on loopback.

    Point a client at it with `env()` (the `<NAME>_BASE_URL` variables). Faults, limits and
    latency can be changed while it runs, from Python or over HTTP under `/_sim/`.
    """

    def __init__(self, *, seed: int = 0, latency_scale: float = 1.0, limits: bool = True,
                 host: str = "127.0.0.1", port: int | None = None,
                 timeout_seconds: float = 12.0):
        self.seed = seed
        self.market = Market(seed)
        self.newsroom = Newsroom(self.market, seed)
        self.host = host
        self._first_port = port
        self._settings = {"latency_scale": latency_scale, "limits": limits,
                          "timeout_seconds": timeout_seconds}
        self.servers: dict[str, ProviderServer] = {}
        self._lock = threading.Lock()

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self) -> "Simulator":
        """Bind every provider's port and start serving (in background threads)."""
        with self._lock:
            if self.servers:
                return self
            try:
                for index, app_class in enumerate(APPS):
                    app = app_class(self.market, newsroom=self.newsroom)
                    port = self._first_port + index if self._first_port else 0
                    self.servers[app.name] = ProviderServer(
                        app, host=self.host, port=port, siblings=lambda: self.servers.values(),
                        **self._settings)
            except OSError:
                for server in self.servers.values():
                    server.httpd.server_close()
                self.servers.clear()
                raise
            for server in self.servers.values():
                server.start()
        return self

    def stop(self) -> None:
        with self._lock:
            servers, self.servers = list(self.servers.values()), {}
        stoppers = [threading.Thread(target=s.stop) for s in servers]
        for thread in stoppers:
            thread.start()
        for thread in stoppers:
            thread.join()

    def __enter__(self) -> "Simulator":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # -- where clients go ---------------------------------------------------------------------
    @property
    def base_urls(self) -> dict[str, str]:
        """{"BINANCE": "http://127.0.0.1:port", ...}"""
        return {s.app.env_name: s.base_url for s in self.servers.values()}

    def env(self) -> dict[str, str]:
        """{"BINANCE_BASE_URL": "http://127.0.0.1:port", ...} for os.environ / monkeypatch."""
        return {f"{name}_BASE_URL": url for name, url in self.base_urls.items()}

    def url(self, provider: str) -> str:
        return self.server(provider).base_url

    def server(self, provider: str) -> ProviderServer:
        try:
            return self.servers[provider_key(provider)]
        except KeyError:
            known = ", ".join(self.servers) or "none (call start() first)"
            raise KeyError(f"unknown provider {provider!r}; providers: {known}") from None

    # -- run-time controls --------------------------------------------------------------------
    def set_fault(self, provider: str, fault: str | None, **params: Any) -> None:
        """Switch a fault on ("error500", "timeout", "malformed", "html", "ban", "rate_limit",
        "wrong_price", "skew", "down") or off (None). Parameters: seconds (timeout), retry_after
        (rate_limit, ban), factor or price (wrong_price: multiply every price, or show this
        price for every coin), pct (skew: every price this many percent off, default 5),
        probability (share of requests hit)."""
        self.server(provider).set_fault(fault, **params)

    def set_depeg(self, usdt_usd: float | None) -> None:
        """The stablecoin de-peg switch: tether at this USD price on every venue (its own USD
        pairs and aggregators show it; USDT-quoted venues divide their prices by it). None
        restores the market's own rate."""
        for server in self.servers.values():
            server.set_depeg(usdt_usd)

    def clear_faults(self, provider: str | None = None) -> None:
        targets = [self.server(provider)] if provider else self.servers.values()
        for server in targets:
            server.set_fault(None)

    def set_rate_limit(self, provider: str, requests: float | None,
                       per_seconds: float | None = None, burst: float | None = None) -> None:
        """Replace a provider's limit: `requests` units (its weights, where it has them) per
        `per_seconds`; counters and bans start afresh. `requests=None` removes the limit."""
        self.server(provider).set_rate_limit(requests, per_seconds, burst)

    def set_latency(self, provider: str, seconds: float, jitter: float = 0.0) -> None:
        """A fixed answer time for one provider (not scaled by latency_scale)."""
        self.server(provider).set_latency(seconds, jitter)

    def reset(self) -> None:
        """Everything healthy: no faults, default limits and latency, counters and bans cleared."""
        for server in self.servers.values():
            server.reset()

    def header_values(self, provider: str, name: str) -> dict[str, int]:
        """Values one provider received in request header `name` since the last reset."""
        return self.server(provider).header_values(name)

    def stats(self, provider: str | None = None) -> dict:
        """Per provider: requests, rate_limited (refusals sent), faulted, by_path, by_status."""
        if provider:
            return self.server(provider).stats()
        return {name: server.stats() for name, server in self.servers.items()}
