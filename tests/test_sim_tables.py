"""The simulator stands on its own: its symbol tables are its own, and the product's agree with them.

sim/ imports nothing from providers/ (or routing/, ui/, ai/), so a wrong id in the product is not
repeated in its fake: the table comparison names every difference, and every listed coin of every
price provider must resolve through the real provider code over HTTP to the simulated market's
price for that coin.
"""
from __future__ import annotations

import ast
import subprocess
import sys
import time
from pathlib import Path

import pytest

from providers import kraken as kraken_module
from providers.base import ProviderError
from providers.binance import Binance
from providers.bybit import Bybit
from providers.coinbase import Coinbase
from providers.coincap import CoinCap
from providers.coindesk import CoinDesk
from providers.coingecko import CoinGecko
from providers.coinpaprika import CoinPaprika
from providers.coins import COINS
from providers.cointelegraph import Cointelegraph
from providers.cryptocompare import CryptoCompare
from providers.kraken import Kraken
from providers.kucoin import KuCoin
from providers.okx import OKX
from sim import listings
from sim.news import plain_name

ROOT = Path(__file__).resolve().parents[1]
SIM_DIR = ROOT / "sim"
FORBIDDEN = ("providers", "routing", "ui", "ai", "app", "bench")
PRICE_PROVIDERS = [Binance, Coinbase, Kraken, OKX, KuCoin, Bybit,
                   CoinGecko, CoinPaprika, CryptoCompare, CoinCap]
PRICE_TOLERANCE = 0.02      # venue offsets are basis points; another coin is far off
CAP_TOLERANCE = 0.03


# ---------------------------------------------------------------------------- no imports

def imported_modules(source: str) -> set[str]:
    """Every module a source imports: `import x.y`, `from x import y` (absolute as "x", relative
    as ".x"), and importlib.import_module("x") / __import__("x") with a literal name."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            found.add("." * node.level + (node.module or ""))
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in ("import_module", "__import__") and isinstance(node.args[0].value, str):
                found.add(node.args[0].value)
    return found


def forbidden_imports(found: set[str]) -> set[str]:
    return {m for m in found if not m.startswith(".") and m.split(".")[0] in FORBIDDEN}


def test_the_import_check_sees_every_import_form():
    source = ("import providers.coins\nfrom routing import router\nfrom .market import Market\n"
              "import importlib\nimportlib.import_module('ui.tabs')\n__import__('ai')\n"
              "import json\n")
    assert forbidden_imports(imported_modules(source)) == {
        "providers.coins", "routing", "ui.tabs", "ai"}


def test_no_module_in_sim_imports_the_product():
    files = sorted(SIM_DIR.rglob("*.py"))
    imports = {str(f.relative_to(ROOT)): imported_modules(f.read_text(encoding="utf-8"))
               for f in files}
    assert "sim/exchanges.py" in imports and "sim/listings.py" in imports
    # The sim's venues really take their tables from its own listings module.
    for name in ("exchanges", "aggregators", "market", "news"):
        assert {".", ".listings"} & imports[f"sim/{name}.py"], name
    bad = {path: sorted(forbidden_imports(found)) for path, found in imports.items()
           if forbidden_imports(found)}
    assert not bad, f"sim/ imports the product: {bad}"


def test_importing_the_simulator_loads_nothing_of_the_product():
    code = ("import sys, pkgutil, importlib, sim\n"
            "for m in pkgutil.walk_packages(sim.__path__, 'sim.'):\n"
            "    importlib.import_module(m.name)\n"
            f"print(sorted(m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r}))\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


# ---------------------------------------------------------------------------- the tables

def flip(table: dict[str, str]) -> dict[str, str]:
    return {ticker: key for key, ticker in table.items()}


def sim_tables() -> dict[str, dict[str, str]]:
    """provider -> {ticker: what the simulated venue calls it}, from sim/listings.py."""
    return {
        "coingecko": flip(listings.COINGECKO), "coinpaprika": flip(listings.COINPAPRIKA),
        "coincap": flip(listings.COINCAP),
        "cryptocompare": {t: t for t in listings.CRYPTOCOMPARE},
        "binance": flip(listings.BINANCE), "coinbase": flip(listings.COINBASE),
        "okx": flip(listings.OKX), "kucoin": flip(listings.KUCOIN), "bybit": flip(listings.BYBIT),
        "kraken": {p.ticker: alt for alt, p in listings.KRAKEN.items()},
        # Kraken answers under its own key: the product must read each one as the right coin.
        "kraken result key": {p.ticker: p.key for p in listings.KRAKEN.values()},
        "cointelegraph": flip(listings.COINTELEGRAPH),
        "coindesk": {c.ticker: plain_name(c.ticker) for c in listings.UNIVERSE},
        "coins (name)": {c.ticker: c.name for c in listings.UNIVERSE},
    }


def product_tables() -> dict[str, dict[str, str]]:
    """The same, from providers/: each provider module's symbol map and the coin table."""
    kraken_keys = {}
    for pair in listings.KRAKEN.values():
        ticker = kraken_module.ALIASES.get(pair.key)
        if ticker is not None:
            kraken_keys[ticker] = pair.key
    return {
        **{cls.name: dict(cls.symbols) for cls in PRICE_PROVIDERS},
        "kraken result key": kraken_keys,
        "cointelegraph": dict(Cointelegraph.symbols),
        "coindesk": dict(CoinDesk.symbols),
        "coins (name)": {c.ticker: c.name for c in COINS},
    }


def differences(product: dict[str, dict[str, str]],
                sim: dict[str, dict[str, str]]) -> list[tuple[str, str, str | None, str | None]]:
    """(provider, ticker, product value, sim value) for every entry the two disagree on;
    None means "not listed"."""
    out = []
    for provider in sorted(set(product) | set(sim)):
        mine, theirs = product.get(provider, {}), sim.get(provider, {})
        for ticker in sorted(set(mine) | set(theirs)):
            if mine.get(ticker) != theirs.get(ticker):
                out.append((provider, ticker, mine.get(ticker), theirs.get(ticker)))
    return out


def shown(value: str | None) -> str:
    return "not listed" if value is None else repr(value)


def describe(diffs) -> str:
    lines = [f"  {p:<18} {t:<7} product={shown(a):<34} sim={shown(b)}" for p, t, a, b in diffs]
    return (f"{len(diffs)} difference(s) between the product's tables (providers/) and the "
            f"simulator's (sim/listings.py):\n" + "\n".join(lines))


def test_the_comparison_names_a_wrong_id():
    product = product_tables()
    product["coingecko"] = {**product["coingecko"], "SOL": "solana-x"}
    del product["bybit"]["BTC"]
    diffs = differences(product, sim_tables())
    assert ("coingecko", "SOL", "solana-x", "solana") in diffs
    assert ("bybit", "BTC", None, "BTCUSDT") in diffs
    assert "coingecko          SOL     product='solana-x'" in describe(diffs)


def test_product_tables_match_the_simulators():
    diffs = differences(product_tables(), sim_tables())
    assert not diffs, describe(diffs)


def test_reference_table_rows_are_in_the_simulator():
    """The rows provider-apis.md spells out (its common ticker -> symbol table) anchor the sim's."""
    for ticker, cg, cc, paprika, kraken, kraken_key in (
            ("BTC", "bitcoin", "bitcoin", "btc-bitcoin", "XBTUSD", "XXBTZUSD"),
            ("ETH", "ethereum", "ethereum", "eth-ethereum", "ETHUSD", "XETHZUSD"),
            ("SOL", "solana", "solana", "sol-solana", "SOLUSD", "SOLUSD"),
            ("XRP", "ripple", "xrp", "xrp-xrp", "XRPUSD", "XXRPZUSD"),
            ("DOGE", "dogecoin", "dogecoin", "doge-dogecoin", "XDGUSD", "XDGUSD"),
            ("AVAX", "avalanche-2", "avalanche", "avax-avalanche", "AVAXUSD", "AVAXUSD"),
            ("LTC", "litecoin", "litecoin", "ltc-litecoin", "LTCUSD", "XLTCZUSD")):
        assert listings.COINGECKO[cg] == listings.COINCAP[cc] == ticker
        assert listings.COINPAPRIKA[paprika] == ticker
        assert (listings.KRAKEN[kraken].ticker, listings.KRAKEN[kraken].key) == (ticker, kraken_key)
        assert listings.BINANCE[f"{ticker}USDT"] == listings.BYBIT[f"{ticker}USDT"] == ticker
        assert listings.OKX[f"{ticker}-USDT"] == listings.KUCOIN[f"{ticker}-USDT"] == ticker
        assert listings.COINBASE[f"{ticker}-USD"] == ticker
    assert listings.COINGECKO["binancecoin"] == "BNB" and listings.COINCAP["binance-coin"] == "BNB"
    assert "BNB-USD" not in listings.COINBASE and "USDTUSDT" not in listings.BINANCE


# ---------------------------------------------------------------------------- over HTTP

def check_quote(sim, quote, ticker: str, pair: str, now: float) -> str | None:
    """Why a quote is not this coin's price in the simulated market (None when it is)."""
    if quote.symbol != ticker:
        return f"{ticker} ({pair}): answered as {quote.symbol}"
    reference = sim.market.price(ticker, now)
    if abs(quote.price / reference - 1) > PRICE_TOLERANCE:
        return f"{ticker} ({pair}): price {quote.price:.6g}, market {reference:.6g}"
    if quote.market_cap is not None:
        cap = reference * sim.market.economics(ticker).supply
        if abs(quote.market_cap / cap - 1) > CAP_TOLERANCE:
            return f"{ticker} ({pair}): market cap {quote.market_cap:.4g}, market {cap:.4g}"
    return None


@pytest.mark.parametrize("cls", PRICE_PROVIDERS, ids=lambda cls: cls.name)
def test_every_listed_coin_resolves_over_http(sim, plain_http, monkeypatch, cls):
    """Each listed ticker, alone and in one batch, through the real provider code against the
    simulator: a wrong id comes back missing, unknown or as another coin's price."""
    monkeypatch.setenv("COINCAP_API_KEY", "sim-key")
    sim.set_rate_limit(cls.name, None)          # ~50 calls in a row; limits are tested elsewhere
    provider = cls(plain_http)
    listed = sorted(provider.symbols)
    assert len(listed) >= 40
    problems = []
    if "quotes" in cls.capabilities:
        quotes = provider.fetch_quotes(listed)
        now = time.time()
        for ticker in listed:
            pair = provider.symbols[ticker]
            if ticker not in quotes:
                problems.append(f"batch: {ticker} ({pair}) missing from the answer")
            elif (why := check_quote(sim, quotes[ticker], ticker, pair, now)) is not None:
                problems.append(f"batch: {why}")
    for ticker in listed:
        pair = provider.symbols[ticker]
        try:
            quote = provider.fetch_quote(ticker)
        except ProviderError as err:
            problems.append(f"single: {ticker} ({pair}): {type(err).__name__}: {err.message}")
            continue
        if (why := check_quote(sim, quote, ticker, pair, time.time())) is not None:
            problems.append(f"single: {why}")
    assert not problems, f"{cls.name}: {len(problems)} problem(s):\n  " + "\n  ".join(problems)
