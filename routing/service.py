"""Service functions: what the UI, the Gradio API and the REST routes call. They turn router
answers into the plain-JSON contracts of the design (the price answer, the old status payload),
so every surface shows the same numbers."""
from __future__ import annotations

import dataclasses
import time
from typing import Callable

from requests_cache import SQLiteCache

from . import status
from .router import ANSWER_TTL_S, CANDLE_TTL_S, Answer, Router
from .session import SharedHTTPCache


def _meta(a: Answer) -> dict:
    return {"source": a.source, "cached": a.cached, "age_s": a.age_s, "stale": a.stale}


def price_answer(symbol: str, a: Answer) -> dict:
    """The design's price contract: always symbol, price, source, timestamp, quote_currency,
    cached, age_s, stale and consensus; 24h change, volume and market cap where the source has
    them. `price` is the named source's own (checked) price; `consensus` is what the venues in
    the book say together."""
    q = a.value
    out = {"symbol": symbol, "price": q.price, "source": a.source,
           "timestamp": round(q.timestamp, 3), "quote_currency": q.quote_currency,
           "cached": a.cached, "age_s": a.age_s, "stale": a.stale}
    for key in ("change_24h_pct", "volume_24h", "market_cap"):
        value = getattr(q, key)
        if value is not None:
            out[key] = value
    if a.consensus is not None:
        out["consensus"] = a.consensus.to_dict()
    return out


class MarketService:
    def __init__(self, router: Router, ai_status: Callable[[], dict] | None = None,
                 queue_status: Callable[[], dict] | None = None):
        self.router = router
        self.ai_status = ai_status
        self.queue_status = queue_status
        self.started_at = time.time()
        self._http_count: tuple[float, int | None] = (0.0, None)

    # -- market data ----------------------------------------------------------------------------
    def price(self, symbol: str) -> dict:
        a = self.router.get_quote(symbol)
        return self._with_market_cap(price_answer(a.value.symbol, a))

    def prices(self, symbols: list[str] | str) -> list[dict]:
        """One record per asked symbol: a price answer, or {symbol, error} when none could answer."""
        answers, errors = self.router.get_quotes(symbols)
        rows = [self._with_market_cap(price_answer(s, a)) for s, a in answers.items()]
        rows += [{"symbol": s, "error": e} for s, e in errors.items()]
        return rows

    def venues(self, symbol: str) -> dict:
        """One coin's quote per venue against the consensus (see Router.venues)."""
        return self.router.venues(symbol)

    def _with_market_cap(self, row: dict) -> dict:
        """Exchanges do not report market cap: take it from the cached top-coins answer, named
        as such, when the quoting source has none."""
        if "market_cap" not in row:
            top = self.router.answers.get("top", fresh_s=ANSWER_TTL_S["top"])
            coin = next((c for c in top.value if c.symbol == row["symbol"]), None) if top else None
            if coin is not None and coin.market_cap:
                row["market_cap"] = coin.market_cap
                row["market_cap_source"] = top.source
        return row

    def ohlc(self, symbol: str, timeframe: str = "1h", limit: int = 100) -> dict:
        a = self.router.get_candles(symbol, timeframe, limit)
        return {"symbol": symbol.strip().upper(), "timeframe": timeframe.strip(),
                "ohlc": [dataclasses.asdict(c) for c in a.value], "count": len(a.value),
                **_meta(a)}

    def top_coins(self, limit: int = 20) -> dict:
        a = self.router.get_top_coins(limit)
        coins = [dataclasses.asdict(c) for c in a.value]
        for c in coins:
            c["source"] = c["source"] or a.source
        return {"coins": coins, "count": len(coins), "timestamp": round(a.fetched_at, 3),
                **_meta(a)}

    def fear_greed(self) -> dict:
        a = self.router.get_fear_greed()
        fg = a.value
        return {"value": fg.value, "classification": fg.classification,
                "timestamp": fg.timestamp, "time_until_update_s": fg.time_until_update_s,
                **_meta(a)}

    @staticmethod
    def fresh_for_s(kind: str, interval: str | None = None) -> float:
        """How long an answer of this kind stays fresh in the router's cache: the pace at which a
        live panel showing it should refresh (candles by interval: 10 s for 1m ... 15 min)."""
        if kind == "candles":
            return CANDLE_TTL_S.get(interval or "", CANDLE_TTL_S["1h"])
        return ANSWER_TTL_S[kind]

    # -- observability --------------------------------------------------------------------------
    def outage(self, what: str, data_at: float | None = None,
               next_try_s: float | None = None) -> dict:
        """What to tell people when every source of `what` (a router request such as "quote
        BTC") failed: {"message": one sentence, "details": {provider: reason}}. `data_at` is
        when the answer shown instead was fetched (None when there is none); `next_try_s` is
        when the caller asks again, used when no source has a known reopening time."""
        kinds = {"quote": ("quote", "quotes"), "quotes": ("quote", "quotes"),
                 "candles": ("candles",), "top": ("top",), "fear": ("fear_greed",),
                 "news": ("news",)}.get(what.split(" ", 1)[0], ())
        snap = self.router.status_snapshot()
        now = snap["timestamp"]
        rows = [p for p in snap["providers"]
                if p["enabled"] and any(k in p["capabilities"] for k in kinds)]
        waits = [p["until"] - now for p in rows if p.get("until") and p["until"] > now]
        return {"message": status.outage_message(what, len(rows), data_at=data_at,
                                                 retry_in_s=min(waits) if waits else next_try_s,
                                                 now=now),
                "details": {p["label"]: p["reason"] for p in rows}}

    def provider_stats(self) -> list[dict]:
        return self.router.provider_status()

    def traffic(self) -> dict:
        """Router totals (requests, cache hit rate, upstream per request...) and upstream calls
        per provider per minute over the last 24 h: what the Providers tab charts."""
        return {"totals": self.router.metrics.totals_view(),
                "per_minute": self.router.metrics.series_view()}

    def system_status(self) -> dict:
        """The old `/api/system/status` payload, every field measured, plus our own details.
        Each provider's status, success rate and reason are its /provider_stats record's, taken
        from the same snapshot as the error list."""
        snap = self.router.status_snapshot()
        providers, now = snap["providers"], snap["timestamp"]
        totals = self.router.metrics.totals_view()
        detailed = []
        for p in providers:
            lat = (p.get("latency_ms") or {}).get("p50")
            rate = p.get("success_rate")
            detailed.append({
                "name": p["name"], "label": p.get("label", p["name"]), "status": p["state"],
                "state_label": p["state_label"], "reason": p["reason"],
                "response_time_ms": lat,
                "success_rate": None if rate is None else round(rate * 100, 1),
                "recent_calls": p["recent_calls"], "recent_failures": p["recent_failures"],
                "errors_last_hour": p["errors_last_hour"],
                "last_check": p.get("last_success") or p.get("last_error_at"),
                "last_success": p.get("last_success"),
                "error": p.get("last_error") if p["state"] != "online" else None,
                "status_code": p.get("last_status"),
                "cached_until": p.get("until"),
                "requests": p.get("requests", 0), "upstream_calls": p.get("upstream_calls", 0),
                "share": p.get("share", 0.0), "rate_limit_hits": p.get("rate_limit_hits", 0),
                "outliers": p.get("outliers", 0),
                "budget": {k: (p.get("rate_limit") or {}).get(k)
                           for k in ("budget", "budget_full", "remaining", "refill_s")},
            })
        banner = status.overall(providers)
        quick = status.fastest(providers)
        cache = self.router.answers.counts()
        errors = status.group_errors(snap["errors"])
        ai = self.ai_status() if self.ai_status else {"state": "not_installed"}
        return {
            "overall_health": banner["health"],
            "overall_summary": banner["summary"],
            "providers_detailed": detailed,
            "ai_models": {
                "transformers_loaded": ai.get("state") == "loaded",
                "model": ai.get("model"), "state": ai.get("state"), "device": ai.get("device"),
                "engine": ai.get("engine"), "inferences": ai.get("inferences"),
                "lexicon_inferences": ai.get("lexicon_inferences"),
                "avg_ms": ai.get("avg_ms"), "last_error": ai.get("last_error"),
            },
            "infrastructure": {
                "cache_backend": self._cache_backend(),
                "cache_entries": sum(cache.values()),
                "http_cache_entries": self._http_cache_entries(),
                "data_dir": str(self.router.metrics.path.parent) if self.router.metrics.path
                else None,
                "persistence": self.router.metrics.persistence.view(),
                "uptime_s": round(now - self.started_at, 1),
                "queue": self.queue_status() if self.queue_status else None,
                "shared_state": self.router.state.view(),
            },
            "replicas": self.router.state.replicas(),
            "cache": {"entries_by_kind": cache, "hit_rate": totals["cache_hit_rate"],
                      "stale_served": totals["stale_answers"]},
            "error_details": errors,
            "performance": {
                "avg_response_ms": totals["avg_response_ms"],
                "fastest_provider": quick["name"] if quick else None,
                "fastest_time_ms": quick["latency_ms"]["p50"] if quick else None,
                "cache_hit_rate": totals["cache_hit_rate"],
                "upstream_per_request": totals["upstream_per_request"],
                "requests": totals["requests"], "cache_hits": totals["cache_hits"],
                "upstream_calls": totals["upstream_calls"],
                "errors": totals["errors"],
                "provider_errors_last_hour": len(snap["errors"]),
                "hedges": totals["hedges"],
                "hedges_by_provider": {p["name"]: p["hedges"] for p in providers
                                       if p.get("hedges")},
            },
            "timestamp": round(now, 3),
        }

    def _cache_backend(self) -> str:
        cache = self.router.session.cache
        if isinstance(cache, SharedHTTPCache) and cache.state.connected:
            return "redis"
        return "sqlite" if isinstance(getattr(cache, "local", cache), SQLiteCache) else "memory"

    def _http_cache_entries(self) -> int | None:
        """Counted at most every 30 s: a COUNT waits on the cache's write lock under load."""
        now = time.time()
        if now - self._http_count[0] > 30:
            cache = self.router.session.cache
            try:
                if isinstance(cache, SharedHTTPCache):   # counted in Redis, else locally
                    count = cache.state.call(lambda _c: len(cache.responses), None)
                    if count is None:
                        count = len(cache.local.responses)
                else:
                    count = len(cache.responses)
                self._http_count = (now, count)
            except Exception:  # a backend that cannot count
                self._http_count = (now, None)
        return self._http_count[1]
