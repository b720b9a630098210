"""Simulated crypto market-data providers on loopback, for tests, benchmarks and offline demos.

Thirteen real HTTP servers (one port each, so paths stay exactly the real APIs'): CoinGecko,
Binance, Coinbase Exchange, Kraken, OKX, KuCoin, Bybit, CoinPaprika, CryptoCompare, CoinCap v3,
alternative.me, and the CoinDesk and Cointelegraph RSS feeds. All quote one seeded market.

From Python::

    from sim import Simulator
    with Simulator(seed=7, latency_scale=0.0) as sim:      # limits=False to switch limits off
        os.environ.update(sim.env())                       # BINANCE_BASE_URL=http://127.0.0.1:...
        sim.set_fault("binance", "rate_limit", retry_after=5)
        sim.set_rate_limit("coingecko", 3, 60)
        sim.set_latency("okx", 0.3)
        sim.stats()["binance"]                             # requests, rate_limited, by_path, ...
        sim.reset()                                        # healthy again

Over HTTP, on any provider's port (acts on that provider; add "all": true for every one)::

    POST /_sim/fault    {"fault": "timeout", "seconds": 5}     ({"fault": null} clears)
    POST /_sim/limit    {"requests": 10, "per_seconds": 60}    ({"requests": null} = no limit,
                                                                {"default": true} = documented)
    POST /_sim/latency  {"seconds": 0.2, "jitter": 0.1}
    POST /_sim/depeg    {"usdt_usd": 0.97, "all": true}        (null restores the peg)
    POST /_sim/reset
    GET  /_sim/stats    (?all=1)        GET /_sim/state   (fault, limit and latency in force)

Faults: error500, timeout (seconds), malformed, html, ban (retry_after), rate_limit (retry_after),
wrong_price (factor, or price), skew (pct: plausible prices, pct % off), down; any of them with
probability=0..1. USDT-quoted venues (Binance, OKX, KuCoin, Bybit) price in tether at the
market's USDT/USD rate; `sim.set_depeg(0.97)` moves that rate everywhere.

`python -m sim [--port N] [--latency-scale F] [--seed S] [--no-limits]` runs the same in the
foreground and prints the `<NAME>_BASE_URL=...` lines.
"""
from .market import Market
from .simulator import APPS, Simulator

__all__ = ["APPS", "Market", "Simulator"]
