"""Service functions: what the UI, the Gradio API and the REST routes call. They turn router
answers into the plain-JSON contracts of the design (the price answer, the old status payload),
so every surface shows the same numbers."""
from __future__ import annotations

import dataclasses
import time
from typing import Callable

from .router import Answer, Router


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
            top = self.router.answers.get("top")
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

    # -- observability --------------------------------------------------------------------------
    def provider_stats(self) -> list[dict]:
        return self.router.provider_status()

    def traffic(self) -> dict:
        """Router totals (requests, cache hit rate, upstream per request...) and upstream calls
        per provider per minute over the last 24 h: what the Providers tab charts."""
        return {"totals": self.router.metrics.totals_view(),
                "per_minute": self.router.metrics.series_view()}

    def system_status(self) -> dict:
        """The old `/api/system/status` payload, every field measured, plus our own details."""
        providers = self.router.provider_status()
        totals = self.router.metrics.totals_view()
        now = time.time()
        detailed = []
        for p in providers:
            lat = (p.get("latency_ms") or {}).get("p50")
            rate = p.get("success_rate")
            detailed.append({
                "name": p["name"], "label": p.get("label", p["name"]), "status": p["state"],
                "response_time_ms": lat,
                "success_rate": None if rate is None else round(rate * 100, 1),
                "last_check": p.get("last_success") or p.get("last_error_at"),
                "error": p.get("last_error") if p["state"] != "online" else None,
                "reason": p.get("reason"),
                "status_code": p.get("last_status"),
                "cached_until": p.get("cooldown_until") or p.get("breaker_open_until"),
                "requests": p.get("requests", 0), "upstream_calls": p.get("upstream_calls", 0),
                "share": p.get("share", 0.0), "rate_limit_hits": p.get("rate_limit_hits", 0),
                "outliers": p.get("outliers", 0),
            })
        enabled = [d for d in detailed if d["status"] != "disabled"]
        n = len(enabled) or 1
        online = sum(d["status"] in ("online", "cooldown") for d in enabled) / n
        usable = sum(d["status"] in ("online", "cooldown", "degraded") for d in enabled) / n
        overall = ("online" if online >= 0.9 else "degraded" if usable >= 0.7
                   else "partial" if usable >= 0.5 else "offline")
        timed = [d for d in enabled if d["response_time_ms"] is not None]
        fastest = min(timed, key=lambda d: d["response_time_ms"]) if timed else None
        cache = self.router.answers.counts()
        errors: dict[tuple[str, str], dict] = {}
        for e in self.router.metrics.errors_view():
            if now - e["time"] > 3600:
                continue
            row = errors.setdefault((e["provider"], e["kind"]), {
                "provider": e["provider"], "type": e["kind"], "count": 0})
            row.update(count=row["count"] + 1, message=e["message"], action=e["action"],
                       last_seen=e["time"])
        ai = self.ai_status() if self.ai_status else {"state": "not_installed"}
        return {
            "overall_health": overall,
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
                "uptime_s": round(now - self.started_at, 1),
                "queue": self.queue_status() if self.queue_status else None,
            },
            "cache": {"entries_by_kind": cache, "hit_rate": totals["cache_hit_rate"],
                      "stale_served": totals["stale_answers"]},
            "error_details": sorted(errors.values(), key=lambda r: -r["last_seen"]),
            "performance": {
                "avg_response_ms": totals["avg_response_ms"],
                "fastest_provider": fastest["name"] if fastest else None,
                "fastest_time_ms": fastest["response_time_ms"] if fastest else None,
                "cache_hit_rate": totals["cache_hit_rate"],
                "upstream_per_request": totals["upstream_per_request"],
                "requests": totals["requests"], "cache_hits": totals["cache_hits"],
                "upstream_calls": totals["upstream_calls"],
                "errors": totals["errors"], "hedges": totals["hedges"],
                "hedges_by_provider": {p["name"]: p["hedges"] for p in providers
                                       if p.get("hedges")},
            },
            "timestamp": round(now, 3),
        }

    def _cache_backend(self) -> str:
        backend = self.router.session.cache
        return type(backend).__name__.replace("Cache", "").lower() or "memory"

    def _http_cache_entries(self) -> int | None:
        """Counted at most every 30 s: a COUNT waits on the cache's write lock under load."""
        now = time.time()
        if now - self._http_count[0] > 30:
            try:
                self._http_count = (now, len(self.router.session.cache.responses))
            except Exception:  # a backend that cannot count
                self._http_count = (now, None)
        return self._http_count[1]
