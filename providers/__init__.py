"""Provider registry: one line per upstream API. Adding a provider is adding its module and a line here."""
from __future__ import annotations

import importlib
import os

from .base import Provider

# name -> "module:Class"; order is only for display.
REGISTRY: dict[str, str] = {
    "binance": "providers.binance:Binance",
    "coinbase": "providers.coinbase:Coinbase",
    "kraken": "providers.kraken:Kraken",
    "okx": "providers.okx:OKX",
    "kucoin": "providers.kucoin:KuCoin",
    "bybit": "providers.bybit:Bybit",
    "coinpaprika": "providers.coinpaprika:CoinPaprika",
    "cryptocompare": "providers.cryptocompare:CryptoCompare",
    "coingecko": "providers.coingecko:CoinGecko",
    "coincap": "providers.coincap:CoinCap",
    "alternative_me": "providers.alternative_me:AlternativeMe",
    "coindesk": "providers.coindesk:CoinDesk",
    "cointelegraph": "providers.cointelegraph:Cointelegraph",
}


def provider_class(name: str) -> type[Provider]:
    module, _, cls = REGISTRY[name].partition(":")
    return getattr(importlib.import_module(module), cls)


def enabled_names(env: dict[str, str] | None = None) -> list[str]:
    """Registry names allowed by `PROVIDERS` (comma list; empty = all) whose config is present."""
    env = os.environ if env is None else env
    wanted = {p.strip().lower() for p in env.get("PROVIDERS", "").split(",") if p.strip()}
    return [n for n in REGISTRY if (not wanted or n in wanted)]
