"""The synchronous smart router: cache first, then a weighted rotation over the providers that
can answer, inside their budgets, with cooldowns, breakers, fallback and stale answers.

How a provider is chosen (the one paragraph): for each kind of request (quote, candles, top...),
the providers that support it, list the symbol, are not cooling down after a rate limit, have no
open breaker and have budget left are candidates. Each gets an effective weight = its base weight
(1.0; CoinGecko 0.2 because its free tier is the tightest) x its recent success rate x a speed
factor 1/(1 + latency_ms/300) x the share of its budget still unspent. A smooth weighted
round-robin (the nginx scheme: every candidate earns its weight, the richest is picked and pays
back the total) picks the first provider, so consecutive misses spread over all healthy providers
in proportion to their weights, deterministically, and a slow, failing or nearly-spent provider
is picked less. If it fails, the remaining candidates are tried by descending weight until one
answers or the call's deadline passes.

Never late: every user call has one deadline (ROUTER_DEADLINE_S, 10 s), batches included.
Provider fetches run in a pool and the caller waits on them with a timeout, so when the deadline
passes it returns at once (a stale answer, else NoProviderAvailable with Retry-After) even while
a worker is still blocked in a socket read; that late answer still fills the cache and the book.
Hedging: when the pick has not answered within its recent p95 latency (clamped to 0.3 .. 2 s),
the next candidate is asked too and the first valid answer is served. Stale-while-revalidate: a
quote past its 5 s freshness but younger than the stale window (60 s) is served at once with
its real age while one background refresh per coin runs.

Quotes go through the quote book: the picked venue answers with its whole snapshot, kept per
(venue, coin), and a quote is served only once the other fresh venues confirm it (see
`_fill_quotes` and routing/consensus.py). Every price answer carries that consensus.
"""
from __future__ import annotations

import logging
import math
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from providers.base import (INTERVALS, KIND_CANDLES, KIND_FEAR_GREED, KIND_NEWS, KIND_QUOTE,
                            KIND_QUOTES, KIND_TOP, Banned, MalformedResponse, NotConfigured,
                            Provider, ProviderError, Quote, RateLimited, Unsupported,
                            UnknownSymbol)

from . import consensus as cons
from . import validate
from .answers import AnswerStore, Stored
from .errors import InvalidInput, NoProviderAvailable
from .health import ProviderHealth
from .metrics import Metrics
from .quotebook import BookQuote, QuoteBook
from .status import ERROR_WINDOW_S, assess, humanize
from .session import BudgetExhausted, ProviderHTTP, RoutedSession
from .shared import LocalState, SharedState

log = logging.getLogger("routing")

DEADLINE_S = 10.0             # one per user call, batches included (ROUTER_DEADLINE_S)
STALE_WINDOW_S = 60.0         # a quote this old is served while refreshed (ROUTER_STALE_WINDOW_S)
HEDGE_MIN_S, HEDGE_MAX_S = 0.3, 2.0   # the next candidate is asked after the pick's p95, clamped
FETCH_WORKERS = 32            # provider fetches in flight at once, hung ones included
# How long an answer is fresh in the router's own cache.
ANSWER_TTL_S = {KIND_QUOTE: 5.0, KIND_TOP: 60.0, KIND_FEAR_GREED: 3600.0, KIND_NEWS: 300.0}
CANDLE_TTL_S = {"1m": 10.0, "5m": 30.0, "15m": 60.0, "30m": 60.0, "1h": 120.0, "4h": 300.0,
                "1d": 600.0, "1w": 900.0}
CANDLE_FETCH_SIZES = (50, 100, 200, 300, 500)
DISABLED_FOR_S = 600.0        # refused access (401/403/451): leave it alone for a while
MAX_GROUP = 3                 # venues asked at once when the book is too thin to check a quote
REFRESH_WAIT_S = 2.0          # a quote miss waits this long for a snapshot already in flight
REFRESH_POLL_S = 0.05         # how often such a wait looks whether the book can answer already
FLIGHT_TTL_S = 5.0            # a fleet-wide single-flight lock expires after this at the latest


class _Deadline:
    """A user call's deadline, on the router's clock and on the real one: whichever comes first
    ends the call (a stepped test clock never lets a hung fetch hold a caller forever)."""

    def __init__(self, clock: Callable[[], float], seconds: float):
        self.clock = clock
        self.seconds = seconds
        self.at = clock() + seconds
        self._real = time.monotonic() + seconds

    def left(self) -> float:
        return max(0.0, min(self.at - self.clock(), self._real - time.monotonic()))


@dataclass(frozen=True)
class Answer:
    """What the router hands up: the value and where it came from, how old, whether stale."""
    value: Any
    source: str
    fetched_at: float
    cached: bool
    stale: bool
    age_s: float
    consensus: cons.Consensus | None = None     # quotes only: what the other venues say


class Router:
    def __init__(self, providers: Iterable[Provider], session: RoutedSession, metrics: Metrics,
                 answers: AnswerStore, *, disabled: dict[str, str] | None = None,
                 deadline_s: float = DEADLINE_S, stale_window_s: float = STALE_WINDOW_S,
                 book: QuoteBook | None = None, clock: Callable[[], float] = time.time,
                 state: SharedState | None = None):
        """`clock` (epoch seconds) is read for every age, deadline, cooldown and breaker; give
        `answers` and `book` the same one. Tests inject a clock they can step. `state` is where
        budgets, gates, single-flight locks and the replica list live (routing/shared.py; the
        local backend by default); give `answers`, `book` and `metrics` the same one."""
        self.clock = clock
        self.state = state if state is not None else LocalState("local")
        self.session = session
        self.metrics = metrics
        self.answers = answers
        self.book = book if book is not None else QuoteBook(clock=clock)
        self._refresh_lock = threading.Lock()         # one quote snapshot round at a time
        self._pool = ThreadPoolExecutor(max_workers=FETCH_WORKERS, thread_name_prefix="fetch")
        self._bg = ThreadPoolExecutor(max_workers=4, thread_name_prefix="refresh")
        self._refresh_mu = threading.Lock()
        self._refreshing: dict[str, Future] = {}      # quote key -> its background refresh
        self._refresh_failed: dict[str, float] = {}   # quote key -> when its refresh failed
        self._inflight: set[Future] = set()           # provider fetches not finished yet
        self._consensus_memo: dict[str, tuple[tuple, cons.Consensus]] = {}
        self._rate_memo: tuple[tuple, float | None] = ((), None)
        self._outliers_booked: set[tuple[str, float]] = set()
        self.deadline_s = deadline_s
        self.stale_window_s = stale_window_s
        self.providers: dict[str, Provider] = {}
        self.health: dict[str, ProviderHealth] = {}
        self.disabled = dict(disabled or {})          # name -> why (not enabled / no key)
        self._latency: dict[str, float] = {}          # EWMA of upstream ms per provider
        self._rr: dict[str, dict[str, float]] = {}    # kind -> provider -> SWRR credit
        self._rr_lock = threading.Lock()
        self._key_locks: dict[str, threading.Lock] = {}
        self._key_locks_lock = threading.Lock()
        self._tl = threading.local()                  # .sends: upstream sends of the current call
        self._known: dict[str, frozenset[str]] = {}
        for p in providers:
            self.add(p)
        saved = metrics.health_state
        for name, h in self.health.items():
            if name in saved:
                h.restore(saved[name])
        metrics.health_source = self._health_snapshot
        self.state.attach(self)

    # -- set-up ---------------------------------------------------------------------------------
    def add(self, provider: Provider) -> None:
        name = provider.name
        health = ProviderHealth(name, provider.rate_limit, clock=self.clock,
                                budget=self.state.budget(name, provider.rate_limit),
                                on_change=self.state.gate_changed)
        provider.http = ProviderHTTP(self.session, name, budget=health.budget.try_spend,
                                     on_send=self._on_send, on_cache_hit=self._on_http_hit,
                                     clock=self.clock)
        self.providers[name] = provider
        self.health[name] = health
        self._known = {}

    def _health_snapshot(self) -> dict:
        return {n: h.snapshot() for n, h in self.health.items()}

    def _on_send(self, name: str, ms: float, status: int | None) -> None:
        self.metrics.upstream_call(name, ms, status)
        prev = self._latency.get(name)
        self._latency[name] = ms if prev is None else prev * 0.8 + ms * 0.2
        self._tl.sends = getattr(self._tl, "sends", 0) + 1

    def _on_http_hit(self, name: str) -> None:
        self.metrics.http_cache_hit(name)

    def known_symbols(self, kind: str = KIND_QUOTE) -> frozenset[str]:
        """Tickers some enabled provider lists for this kind (computed once per kind)."""
        known = self._known.get(kind)
        if known is None:
            known = frozenset(t for p in self.providers.values()
                              if p.supports(kind) or (kind == KIND_QUOTE and p.supports(KIND_QUOTES))
                              for t in p.symbols)
            self._known[kind] = known
        return known

    # -- public API -----------------------------------------------------------------------------
    def get_quote(self, symbol: str) -> Answer:
        """One coin's price: a fresh answer, else one inside the stale window (served at once
        while a background refresh runs), else a quote from the book that the other venues
        confirm, else a snapshot from the venue the rotation picks (see `_fill_quotes`)."""
        ticker = validate.symbol(symbol, self.known_symbols(KIND_QUOTE))
        key = f"{KIND_QUOTE}:{ticker}"
        ttl = ANSWER_TTL_S[KIND_QUOTE]
        start = time.perf_counter()
        dl = _Deadline(self.clock, self.deadline_s)
        hit = self.answers.get(key, fresh_s=ttl)
        if hit is not None and hit.age(self.clock()) < ttl:
            return self._quote_hit(hit, ticker, start)
        if self._revalidating(hit):
            self.refresh_in_background([ticker])
            return self._quote_hit(hit, ticker, start,
                                   stale=self._refresh_failed_since(hit, ticker))
        lock = self._key_lock(key)
        if not lock.acquire(timeout=dl.left()):
            return self._quote_late(ticker, hit, start,
                                    {"router": "another fetch of this coin is still in flight"})
        try:
            hit = self.answers.get(key, fresh_s=ttl)
            if hit is not None and hit.age(self.clock()) < ttl:
                return self._quote_hit(hit, ticker, start)
            self._tl.sends = 0
            reasons: dict[str, str] = {}
            got = self._fill_quotes([ticker], dl, reasons)
            if ticker in got:
                answer = self._quote_answer(ticker, got[ticker], cached=self._tl.sends == 0)
                self.metrics.user_request((time.perf_counter() - start) * 1000,
                                          cache_hit=answer.cached)
                return answer
            return self._quote_late(ticker, hit, start, reasons)
        finally:
            lock.release()

    def _quote_late(self, ticker: str, hit: Stored | None, start: float,
                    reasons: dict[str, str]) -> Answer:
        """No venue answered in time: the last known quote marked stale, else a clear error."""
        elapsed_ms = (time.perf_counter() - start) * 1000
        if hit is not None:
            log.warning("Serving stale quote %s from %s (age %.0f s): %s", ticker,
                        hit.source, hit.age(self.clock()),
                        "; ".join(f"{k}: {v}" for k, v in reasons.items()))
            self.metrics.user_request(elapsed_ms, cache_hit=True, stale=True)
            return self._quote_stored(hit, ticker, cached=True, stale=True)
        self.metrics.user_request(elapsed_ms, cache_hit=False, error=True)
        raise NoProviderAvailable(f"quote {ticker}", reasons,
                                  self._retry_after(self._quote_candidates(ticker)))

    def get_quotes(self, symbols: Iterable[str] | str) -> tuple[dict[str, Answer], dict[str, str]]:
        """Many quotes under one deadline: fresh answers, those inside the stale window (while
        they are refreshed in the background), then the book, then as few venue snapshots as
        cover the rest. Returns (answers, errors per symbol); when not one symbol could be
        answered, raises NoProviderAvailable."""
        tickers = validate.symbols(symbols, self.known_symbols(KIND_QUOTE))
        start = time.perf_counter()
        dl = _Deadline(self.clock, self.deadline_s)
        self._tl.sends = 0
        ttl = ANSWER_TTL_S[KIND_QUOTE]
        out: dict[str, Answer] = {}
        errors: dict[str, str] = {}
        missing, revalidate = [], []
        now = self.clock()
        for t in tickers:
            hit = self.answers.get(f"{KIND_QUOTE}:{t}", fresh_s=ttl)
            if hit is not None and hit.age(now) < ttl:
                out[t] = self._quote_stored(hit, t, cached=True)
            elif self._revalidating(hit):
                out[t] = self._quote_stored(hit, t, cached=True,
                                            stale=self._refresh_failed_since(hit, t))
                revalidate.append(t)
            else:
                missing.append(t)
        if out:
            log.info("Cache hit quotes %s", ",".join(out))
        if revalidate:
            self.refresh_in_background(revalidate)
        reasons: dict[str, str] = {}
        failure: NoProviderAvailable | None = None
        if missing:
            got = self._fill_quotes(missing, dl, reasons)
            for t, bq in got.items():
                out[t] = self._quote_answer(t, bq, cached=bq.fetched_at < now)
            for t in missing:
                if t in out:
                    continue
                hit = self.answers.get(f"{KIND_QUOTE}:{t}")
                if hit is not None:
                    out[t] = self._quote_stored(hit, t, cached=True, stale=True)
                    continue
                failure = NoProviderAvailable(
                    f"quote {t}", {n: r for n, r in reasons.items()
                                   if n not in self.providers or self.providers[n].lists(t)},
                    self._retry_after(self._quote_candidates(t)))
                errors[t] = str(failure)
        elapsed = (time.perf_counter() - start) * 1000
        self.metrics.user_request(elapsed, cache_hit=self._tl.sends == 0 and not errors,
                                  stale=any(a.stale for a in out.values()), error=bool(errors))
        if failure is not None and not out:
            raise failure
        return {t: out[t] for t in tickers if t in out}, errors

    # -- stale-while-revalidate -----------------------------------------------------------------
    def _revalidating(self, hit: Stored | None) -> bool:
        """Past its freshness but inside the stale window: served at once, refreshed behind."""
        return hit is not None and hit.age(self.clock()) < self.stale_window_s

    def _refresh_failed_since(self, hit: Stored, ticker: str) -> bool:
        """`stale: true` is kept for a quote whose last refresh failed."""
        failed = self._refresh_failed.get(f"{KIND_QUOTE}:{ticker}")
        return failed is not None and failed >= hit.fetched_at

    def refresh_in_background(self, tickers: list[str]) -> None:
        """One background refresh per coin at a time (single flight); coins already being
        refreshed are left to theirs."""
        with self._refresh_mu:
            todo = [t for t in tickers if f"{KIND_QUOTE}:{t}" not in self._refreshing]
            if not todo:
                return
            future = self._bg.submit(self._refresh, todo)
            for t in todo:
                self._refreshing[f"{KIND_QUOTE}:{t}"] = future

    def _submit(self, fn: Callable[..., Any], *args: Any) -> Future:
        """A provider fetch into the pool, tracked until it ends (even after its caller left)."""
        future = self._pool.submit(fn, *args)
        with self._refresh_mu:
            self._inflight.add(future)
        future.add_done_callback(self._fetch_done)
        return future

    def _fetch_done(self, future: Future) -> None:
        with self._refresh_mu:
            self._inflight.discard(future)

    def join_fetches(self, timeout: float | None = None) -> bool:
        """Wait for provider fetches still running, late ones included (tests, shutdown); True
        when none is left."""
        with self._refresh_mu:
            futures = set(self._inflight)
        _, left = wait(futures, timeout=timeout)
        return not left

    def join_refreshes(self, timeout: float | None = None) -> bool:
        """Wait for the background refreshes in flight (tests and shutdown); True when none is
        left."""
        with self._refresh_mu:
            futures = set(self._refreshing.values())
        _, left = wait(futures, timeout=timeout)
        return not left

    def _refresh(self, tickers: list[str]) -> None:
        try:
            self._tl.sends = 0
            reasons: dict[str, str] = {}
            got = self._fill_quotes(tickers, _Deadline(self.clock, self.deadline_s), reasons)
            for t in tickers:
                key = f"{KIND_QUOTE}:{t}"
                if t in got:
                    self._quote_answer(t, got[t], cached=False)
                    self._refresh_failed.pop(key, None)
                else:
                    self._refresh_failed[key] = self.clock()
                    log.warning("Background refresh of quote %s failed: %s", t,
                                "; ".join(f"{k}: {v}" for k, v in reasons.items())
                                or "no venue could be asked (all resting, tried or skipped)")
        except Exception:      # a bug here must not kill the refresh pool silently
            log.exception("Background refresh of %s crashed", ",".join(tickers))
            for t in tickers:
                self._refresh_failed[f"{KIND_QUOTE}:{t}"] = self.clock()
        finally:
            with self._refresh_mu:
                for t in tickers:
                    self._refreshing.pop(f"{KIND_QUOTE}:{t}", None)

    def consensus(self, ticker: str) -> cons.Consensus:
        """What the venues in the book say about one coin now (memoized per second and per
        change of the book, so a cache hit stays cheap)."""
        now = self.clock()
        stamp = (self.book.version(ticker), self.book.version("USDT"), int(now))
        memo = self._consensus_memo.get(ticker)
        if memo is not None and memo[0] == stamp:
            return memo[1]
        quotes = [self._venue_quote(bq, now) for bq in self.book.quotes(ticker).values()
                  if bq.venue in self.providers]
        result = cons.consensus(quotes, self.usdt_usd(now))
        self._consensus_memo[ticker] = (stamp, result)
        return result

    def usdt_usd(self, now: float | None = None) -> float | None:
        """The live USDT/USD rate from the book: the consensus of the USD venues' tether quotes
        (Kraken USDTZUSD, Coinbase USDT-USD, aggregators), else the newest of them; None when
        the book has none (USDT prices are then never converted, never taken as 1.0)."""
        now = self.clock() if now is None else now
        stamp = (self.book.version("USDT"), int(now))
        if self._rate_memo[0] == stamp:
            return self._rate_memo[1]
        quotes = [self._venue_quote(bq, now) for bq in self.book.quotes("USDT").values()
                  if bq.venue in self.providers and bq.quote.quote_currency == "USD"]
        rate = None
        if quotes:
            c = cons.consensus(quotes, None)
            rate = c.price if c.status != "stale" else min(quotes, key=lambda q: q.age_s).price
        self._rate_memo = (stamp, rate)
        return rate

    def venues(self, symbol: str) -> dict:
        """One coin's quote from every venue in the book, in USD, against the consensus: what
        /api/market/venues and /get_venues show. Asks for the coin first (the usual way, so a
        cold book is filled and checked)."""
        answer = self.get_quote(symbol)
        ticker = answer.value.symbol
        now = self.clock()
        c = self.consensus(ticker)
        rows = []
        for venue, bq in sorted(self.book.quotes(ticker).items()):
            if venue not in self.providers:
                continue
            vq = self._venue_quote(bq, now)
            usd = vq.usd(c.usdt_usd)
            used = venue in c.sources and c.status != "stale"
            rows.append({
                "venue": venue, "kind": vq.kind, "quote_currency": vq.quote_currency,
                "price": bq.quote.price, "price_usd": None if usd is None else round(usd, 10),
                "deviation_bps": None if usd is None or not c.price
                else round((usd - c.price) / c.price * 1e4, 2),
                "age_s": round(vq.age_s, 1), "used": used,
                "reason": "" if used else c.excluded.get(venue, "no fresh quote to compare"),
            })
        return {"symbol": ticker, "consensus": c.to_dict(), "venues": rows,
                "served": {"source": answer.source, "price": answer.value.price,
                           "quote_currency": answer.value.quote_currency},
                "timestamp": round(self.clock(), 3)}

    def get_candles(self, symbol: str, interval: str, limit: int) -> Answer:
        iv = validate.interval(interval, "interval")
        n = validate.limit(limit, validate.CANDLE_LIMIT, "limit")
        ticker = validate.symbol(symbol, self.known_symbols(KIND_CANDLES))
        cands = [p for p in self.providers.values()
                 if p.supports(KIND_CANDLES, iv) and p.lists(ticker) and n <= p.max_candles]
        if not cands:
            offered = sorted({i for p in self.providers.values() if p.lists(ticker)
                              and p.supports(KIND_CANDLES) for i in p.intervals})
            raise InvalidInput("interval", f"no enabled provider has {iv} candles for {ticker}; "
                               f"available: {', '.join(i for i in INTERVALS if i in offered)}")
        answer = self._serve(f"{KIND_CANDLES}:{ticker}:{iv}", CANDLE_TTL_S[iv],
                             f"candles {ticker} {iv}", KIND_CANDLES, lambda: cands,
                             lambda p: p.fetch_candles(ticker, iv, _fetch_size(n, p)),
                             enough=lambda v: len(v) >= n)
        return _replace_value(answer, answer.value[-n:])

    def get_top_coins(self, limit: int = 20) -> Answer:
        n = validate.limit(limit, validate.TOP_LIMIT, "limit")
        answer = self._serve(KIND_TOP, ANSWER_TTL_S[KIND_TOP], f"top {n} coins", KIND_TOP,
                             lambda: self._supporting(KIND_TOP),
                             lambda p: p.fetch_top(max(n, 50)), enough=lambda v: len(v) >= n)
        return _replace_value(answer, answer.value[:n])

    def get_fear_greed(self) -> Answer:
        return self._serve(KIND_FEAR_GREED, ANSWER_TTL_S[KIND_FEAR_GREED], "fear & greed",
                           KIND_FEAR_GREED, lambda: self._supporting(KIND_FEAR_GREED),
                           lambda p: p.fetch_fear_greed())

    def get_news(self, symbol: str | None, limit: int = 20) -> list[Answer]:
        """Headlines from every news provider that answers (one Answer per source)."""
        n = validate.limit(limit, validate.NEWS_LIMIT, "limit")
        ticker = None
        if symbol not in (None, "", "ALL", "all", "market"):
            ticker = validate.symbol(symbol, self.known_symbols(KIND_QUOTE))
        out: list[Answer] = []
        dl = _Deadline(self.clock, self.deadline_s)      # one for all the feeds
        for p in self._supporting(KIND_NEWS):
            try:
                out.append(self._serve(f"{KIND_NEWS}:{p.name}:{ticker or 'ALL'}",
                                       ANSWER_TTL_S[KIND_NEWS], f"news {ticker or 'market'}",
                                       KIND_NEWS, lambda p=p: [p],
                                       lambda p: p.fetch_news(ticker, n), dl=dl))
            except NoProviderAvailable:
                continue
        if not out:
            raise NoProviderAvailable(f"news {ticker or 'market'}",
                                      {p.name: "failed" for p in self._supporting(KIND_NEWS)}, 60)
        return out

    # -- the core -------------------------------------------------------------------------------
    def _quote_venues(self) -> list[Provider]:
        return [p for p in self.providers.values()
                if p.supports(KIND_QUOTE) or p.supports(KIND_QUOTES)]

    def _fill_quotes(self, tickers: list[str], dl: _Deadline,
                     reasons: dict[str, str]) -> dict[str, BookQuote]:
        """A quote per ticker that no other venue contradicts, from the book where one was
        fetched within the answer TTL, else from snapshots the rotation picks.

        A quote is served only when it passes the check against the other fresh venues
        (`consensus.check`); an outlier is that venue's failure and the next one is tried. When
        fewer than two other votes make the check impossible (cold start, quiet spell, thin
        book), up to MAX_GROUP venues are asked at once. A quote that still cannot be checked
        is served when no venue left could add a vote: the consensus status then says so.

        Snapshots run in the pool; this thread only waits, never past the deadline. When the
        pick has not answered within its hedge delay, the next venue is asked too; a snapshot
        that lands after the call returned still fills the book."""
        out: dict[str, BookQuote] = {}
        tried: set[str] = set()
        preferred: list[str] = []
        running: dict[Future, Provider] = {}
        hedge_at = math.inf
        sends = 0
        locked = False
        try:
            while True:
                pending = self._pending(tickers, out, preferred)
                if not pending or dl.left() <= 0:
                    break
                if not running or time.monotonic() >= hedge_at:
                    if not locked and not running:
                        locked = self._await_refresh(tickers, out, preferred, dl)
                        pending = self._pending(tickers, out, preferred)
                        if not pending:
                            break
                    group = self._pick_group(pending, tried, reasons, hedge=bool(running))
                    if running:
                        group = group[:1]              # a hedge asks one more venue
                    if group:
                        if running:
                            self.metrics.hedge(group[0].name)
                            log.info("HEDGE: %s slow for quotes %s; asking %s too",
                                     ",".join(p.name for p in running.values()),
                                     ",".join(pending), group[0].name)
                        for p in group:
                            running[self._submit(self._snapshot_task, p, list(pending),
                                                 dl.at)] = p
                        tried.update(p.name for p in group)
                        preferred = [p.name for p in group] + preferred
                        hedge_at = time.monotonic() + self._hedge_delay(group[0].name)
                    elif not running:
                        break
                    else:
                        hedge_at = math.inf
                timeout = min(dl.left(), max(0.0, hedge_at - time.monotonic()))
                done, _ = wait(running, timeout=timeout, return_when=FIRST_COMPLETED)
                for f in done:
                    running.pop(f)
                    n, why = f.result()
                    sends += n
                    reasons.update(why)
        finally:
            if locked:
                self.state.unlock(getattr(self._tl, "flight", None))
                self._tl.flight = None
                self._refresh_lock.release()
        for p in running.values():
            reasons.setdefault(p.name, f"no answer within the call's {dl.seconds:g} s deadline")
        self._tl.sends = getattr(self._tl, "sends", 0) + sends
        for t, unchecked in self._pending(tickers, out, preferred).items():
            if unchecked is not None:      # nothing left to ask: what could not be checked
                out[t] = unchecked
        return out

    def _await_refresh(self, tickers: list[str], out: dict[str, BookQuote],
                       preferred: list[str], dl: _Deadline) -> bool:
        """Take the snapshot-round lock, so concurrent misses make one round; while another
        round holds it, wait at most REFRESH_WAIT_S, and stop waiting once the book answers.
        True when the lock was taken."""
        until = time.monotonic() + min(REFRESH_WAIT_S, dl.left())
        while True:
            if self._refresh_lock.acquire(timeout=REFRESH_POLL_S):
                flight = self.state.lock(f"{KIND_QUOTE}:snapshots", self._flight_ttl())
                if flight is not None:          # the fleet's round is ours too
                    self._tl.flight = flight
                    self.book.reread()          # what the previous round brought counts
                    return True
                self._refresh_lock.release()    # another replica's round: wait for its book
                time.sleep(REFRESH_POLL_S)
            if time.monotonic() >= until or not self._pending(tickers, out, preferred):
                return False

    def _hedge_delay(self, name: str) -> float:
        """How long the pick gets before the next candidate is asked too: its recent p95,
        clamped to 0.3 .. 2 s, and never over a fifth of the deadline, so that several
        candidates still fit in a short one."""
        top = min(HEDGE_MAX_S, self.deadline_s / 5)
        p95 = self.metrics.latency_p95_ms(name)
        if p95 is None:
            return top
        return min(top, max(min(HEDGE_MIN_S, top), p95 / 1000.0))

    def _snapshot_task(self, p: Provider, missing: list[str], deadline: float
                       ) -> tuple[int, dict[str, str]]:
        """One venue's snapshot into the book (in a pool thread): its upstream sends and, if
        it failed, why. Runs to its end even after the caller gave up waiting."""
        self._tl.sends = 0
        reasons: dict[str, str] = {}
        want = [t for t in missing if p.lists(t)]
        what = f"quote{'s' if len(want) > 1 else ''} {','.join(want)}"
        ok, quotes = self._attempt(p, what, lambda: self._snapshot(p, want),
                                   deadline, reasons, ANSWER_TTL_S[KIND_QUOTE])
        if ok and quotes:
            self.book.put(p.name, quotes)
        return self._tl.sends, reasons

    def _pending(self, tickers: list[str], out: dict[str, BookQuote],
                 preferred: list[str]) -> dict[str, BookQuote | None]:
        """Tickers not answered yet -> an unchecked (but not contradicted) quote, or None. Those
        the book can answer now are moved to `out`."""
        now = self.clock()
        pending: dict[str, BookQuote | None] = {}
        for t in tickers:
            if t in out:
                continue
            confirmed, unchecked = self._from_book(t, now, preferred)
            if confirmed is not None:
                out[t] = confirmed
            else:
                pending[t] = unchecked
        return pending

    def _from_book(self, ticker: str, now: float, preferred: list[str]
                   ) -> tuple[BookQuote | None, BookQuote | None]:
        """(a quote fetched within the answer TTL that the others confirm, or else one they
        could not check). Venues fetched in this call come first, the rotation's pick first."""
        book = {v: bq for v, bq in self.book.quotes(ticker).items() if v in self.providers}
        ttl = ANSWER_TTL_S[KIND_QUOTE]
        serveable = [bq for bq in book.values() if bq.fetch_age(now) < ttl]
        if not serveable:
            return None, None
        rank = {v: i for i, v in enumerate(preferred)}
        serveable.sort(key=lambda bq: (rank.get(bq.venue, len(rank)), -bq.fetched_at))
        rate = self.usdt_usd(now)
        quotes = {v: self._venue_quote(bq, now) for v, bq in book.items()}
        unchecked = None
        for bq in serveable:
            verdict = cons.check(quotes[bq.venue], quotes.values(), rate)
            if verdict.ok:
                if self.health[bq.venue].deviation:
                    self.health[bq.venue].agreeing()
                return bq, None
            if verdict.ok is False:
                self._book_outlier(bq, ticker, verdict.reason)
            elif unchecked is None:
                unchecked = bq
        return None, unchecked

    def _book_outlier(self, bq: BookQuote, ticker: str, reason: str) -> None:
        """An outlier is its venue's failure, counted once per snapshot, never served."""
        key = (bq.venue, bq.fetched_at)
        if key in self._outliers_booked:
            return
        if len(self._outliers_booked) > 10_000:
            self._outliers_booked.clear()
        self._outliers_booked.add(key)
        message = f"{ticker} quote {reason}"
        self.health[bq.venue].deviating(message)
        self.metrics.failure(bq.venue, "outlier", message, "not served; used another venue")
        log.warning("Outlier from %s: %s", bq.venue, message)

    def _venue_quote(self, bq: BookQuote, now: float) -> cons.VenueQuote:
        q = bq.quote
        return cons.VenueQuote(bq.venue, self.providers[bq.venue].venue_kind, q.quote_currency,
                               q.price, bq.age(now), q.volume_24h)

    def _fresh_votes(self, ticker: str, now: float, without: set[str]) -> list[cons.VenueQuote]:
        quotes = [self._venue_quote(bq, now) for v, bq in self.book.quotes(ticker).items()
                  if v in self.providers and v not in without]
        return [q for q, _ in cons.usable(quotes, self.usdt_usd(now))[0]]

    def _adds_vote(self, p: Provider, ticker: str, now: float, group: list[Provider]) -> bool:
        """Would a snapshot of `p` give `ticker` one more fresh vote?"""
        fresh = self._fresh_votes(ticker, now, set())
        if any(q.venue == p.name for q in fresh):
            return False
        if p.venue_kind == cons.AGGREGATOR:
            return not any(q.kind == cons.AGGREGATOR for q in fresh) and \
                not any(g.venue_kind == cons.AGGREGATOR for g in group)
        return True

    def _pick_group(self, pending: dict[str, BookQuote | None], tried: set[str],
                    reasons: dict[str, str], hedge: bool = False) -> list[Provider]:
        """The rotation's pick for the pending tickers, plus (when the book is too thin to
        check its quote) up to MAX_GROUP - 1 more venues that add votes, a USD venue with a
        tether quote first when the book has no USDT/USD rate."""
        now = self.clock()
        missing = list(pending)
        cands = [p for p in self._quote_venues() if p.name not in tried
                 and any(p.lists(t) for t in missing) and not self._resting(p, now)]
        if len(missing) > 1 and any(p.supports(KIND_QUOTES) for p in cands):
            cands = [p for p in cands if p.supports(KIND_QUOTES)]
        # a ticker with an unchecked quote needs a venue that adds a vote, or nothing more
        cands = [p for p in cands if any(p.lists(t) and (u is None or self._adds_vote(p, t, now, []))
                                         for t, u in pending.items())]
        order = self._order(KIND_QUOTE, cands, reasons, charge=not hedge)
        if not order:
            return []
        group = [order[0]]
        thin = any(order[0].lists(t) and cons.votes_of(self._fresh_votes(t, now, {order[0].name})) < 2
                   for t in missing)
        if not thin:
            return group
        rest = order[1:]
        if self.usdt_usd(now) is None:
            rest.sort(key=lambda p: not (p.quote_currency == "USD" and p.lists("USDT")
                                         and p.supports(KIND_QUOTES)))
        for p in rest:
            if len(group) >= MAX_GROUP:
                break
            if any(p.lists(t) and self._adds_vote(p, t, now, group) for t in missing):
                group.append(p)
        return group

    def _resting(self, p: Provider, now: float) -> bool:
        """Its data cannot have changed since its last snapshot (CoinGecko: every 60 s)."""
        return p.refresh_s > 0 and now - self.book.last_fetch(p.name) < p.refresh_s

    @staticmethod
    def _snapshot(p: Provider, want: list[str]) -> dict[str, Quote]:
        """Every coin the venue lists, in one call where it has a batch route; a venue without
        one (Coinbase Exchange) is asked for the wanted coins one by one. Kraken and Binance
        refuse a whole batch over one pair they no longer list: then the wanted coins are
        asked one by one too, and the log says so."""
        quotes: dict[str, Quote] = {}
        if p.supports(KIND_QUOTES):
            try:
                quotes = p.fetch_quotes(sorted(p.symbols))
            except UnknownSymbol as exc:
                if not p.supports(KIND_QUOTE):
                    raise
                log.warning("%s refused its snapshot (%s); asking per coin", p.name, exc.message)
        if not quotes:
            quotes = {t: p.fetch_quote(t) for t in want}
        if not any(t in quotes for t in want):
            raise UnknownSymbol(p.name, f"{', '.join(want)} missing from {p.label}'s answer")
        return quotes

    def _quote_answer(self, ticker: str, bq: BookQuote, *, cached: bool) -> Answer:
        stored = self.answers.put(f"{KIND_QUOTE}:{ticker}", bq.quote, bq.venue,
                                  fetched_at=bq.fetched_at)
        if cached:
            log.info("Cache hit quote %s (%s from the quote book, age %.1f s)", ticker,
                     bq.venue, bq.fetch_age(self.clock()))
        return self._quote_stored(stored, ticker, cached=cached)

    def _quote_stored(self, s: Stored, ticker: str, *, cached: bool, stale: bool = False) -> Answer:
        return Answer(s.value, s.source, s.fetched_at, cached, stale,
                      round(s.age(self.clock()), 3), self.consensus(ticker))

    def _quote_hit(self, hit: Stored, ticker: str, start: float, stale: bool = False) -> Answer:
        log.info("Cache hit quote %s (%s, age %.1f s)", ticker, hit.source,
                 hit.age(self.clock()))
        answer = self._quote_stored(hit, ticker, cached=True, stale=stale)
        self.metrics.user_request((time.perf_counter() - start) * 1000, cache_hit=True,
                                  stale=stale)
        return answer

    def _supporting(self, kind: str) -> list[Provider]:
        return [p for p in self.providers.values() if p.supports(kind)]

    def _quote_candidates(self, ticker: str) -> list[Provider]:
        return [p for p in self.providers.values()
                if (p.supports(KIND_QUOTE) or p.supports(KIND_QUOTES)) and p.lists(ticker)]

    def _key_lock(self, key: str) -> threading.Lock:
        lock = self._key_locks.get(key)
        if lock is None:
            with self._key_locks_lock:
                lock = self._key_locks.setdefault(key, threading.Lock())
        return lock

    def _serve(self, key: str, ttl: float, what: str, kind: str,
               candidates: Callable[[], list[Provider]], call: Callable[[Provider], Any], *,
               enough: Callable[[Any], bool] | None = None, record: bool = True,
               dl: _Deadline | None = None) -> Answer:
        """Fresh cache, else one upstream fetch per key at a time (hedged, bounded by the
        call's deadline), else stale, else a clear error. `candidates` is only evaluated on a
        miss, so a hit stays cheap."""
        start = time.perf_counter()
        dl = dl or _Deadline(self.clock, self.deadline_s)
        hit = self.answers.get(key, fresh_s=ttl)
        if _fresh(hit, self.clock(), ttl, enough):
            return self._hit(hit, what, start, record)
        lock = self._key_lock(key)
        reasons: dict[str, str] = {}
        providers: list[Provider] = []
        if lock.acquire(timeout=dl.left()):
            flight = None
            try:
                hit, flight = self._take_flight(key, ttl, enough, dl)
                if _fresh(hit, self.clock(), ttl, enough):
                    return self._hit(hit, what, start, record)
                if flight is None:
                    reasons["router"] = f"another replica's fetch of {what} is still in flight"
                else:
                    self._tl.sends = 0
                    providers = candidates()
                    order = self._order(kind, providers, reasons)
                    won = self._race(order, what, call, key, ttl, dl, reasons)
                    if won is not None:
                        stored, sends = won
                        cached = sends == 0
                        if record:
                            self.metrics.user_request((time.perf_counter() - start) * 1000,
                                                      cache_hit=cached)
                        return _answer(stored, self.clock(), cached=cached)
            finally:
                self.state.unlock(flight)
                lock.release()
        else:
            reasons["router"] = f"another fetch of {what} is still in flight"
        if hit is not None:
            now = self.clock()
            log.warning("Serving stale %s from %s (age %.0f s): %s", what, hit.source,
                        hit.age(now), "; ".join(f"{k}: {v}" for k, v in reasons.items()))
            if record:
                self.metrics.user_request((time.perf_counter() - start) * 1000,
                                          cache_hit=True, stale=True)
            return _answer(hit, now, cached=True, stale=True)
        if record:
            self.metrics.user_request((time.perf_counter() - start) * 1000, cache_hit=False,
                                      error=True)
        raise NoProviderAvailable(what, reasons, self._retry_after(providers or candidates()))

    def _take_flight(self, key: str, ttl: float, enough: Callable[[Any], bool] | None,
                     dl: _Deadline) -> tuple[Stored | None, Any]:
        """(the answer once fresh, the fleet-wide lock on `key` when we are to fetch it). While
        another replica holds the lock, its answer is awaited for up to REFRESH_WAIT_S (as a
        quote miss waits for a snapshot in flight), then we fetch too."""
        give_up = time.monotonic() + min(REFRESH_WAIT_S, dl.left())
        while True:
            hit = self.answers.get(key, fresh_s=ttl)
            if _fresh(hit, self.clock(), ttl, enough):
                return hit, None
            flight = self.state.lock(key, self._flight_ttl())
            if flight is not None:
                again = self.answers.get(key, fresh_s=ttl)   # it may have landed meanwhile
                if _fresh(again, self.clock(), ttl, enough):
                    self.state.unlock(flight)
                    return again, None
                return hit, flight
            if dl.left() <= 0:
                return hit, None
            if time.monotonic() >= give_up:      # its holder is slow or gone: fetch too
                return hit, True
            time.sleep(min(REFRESH_POLL_S, dl.left()))

    def _flight_ttl(self) -> float:
        """How long a fleet-wide single-flight lock lives: a replica killed while holding one
        delays the others' fetch of that key by at most this."""
        return min(self.deadline_s, FLIGHT_TTL_S)

    def _race(self, order: list[Provider], what: str,
              call: Callable[[Provider], Any], key: str, ttl: float, dl: _Deadline,
              reasons: dict[str, str]) -> tuple[Stored, int] | None:
        """Ask the providers in order, each in the pool: the next one when the previous failed
        or has not answered within its hedge delay. Returns the first valid answer (already
        stored) and the upstream sends it took, or None when none came before the deadline.
        An answer that lands later is stored all the same."""
        running: dict[Future, Provider] = {}
        queue = list(order)
        hedge_at = math.inf
        sends = 0
        while dl.left() > 0:
            if queue and (not running or time.monotonic() >= hedge_at):
                p = queue.pop(0)
                if running:
                    self.metrics.hedge(p.name)
                    log.info("HEDGE: %s slow for %s; asking %s too",
                             ",".join(q.name for q in running.values()), what, p.name)
                running[self._submit(self._fetch_task, p, what, call, key, ttl,
                                     dl.at)] = p
                hedge_at = time.monotonic() + self._hedge_delay(p.name)
            if not running:
                break
            timeout = dl.left()
            if queue:
                timeout = min(timeout, max(0.0, hedge_at - time.monotonic()))
            done, _ = wait(running, timeout=timeout, return_when=FIRST_COMPLETED)
            for f in done:
                running.pop(f)
                stored, n, why = f.result()
                sends += n
                reasons.update(why)
                if stored is not None:
                    return stored, sends
        for p in running.values():
            reasons.setdefault(p.name, f"no answer within the call's {dl.seconds:g} s deadline")
        for p in queue:
            reasons.setdefault(p.name, "not tried: the call's deadline passed")
        return None

    def _fetch_task(self, p: Provider, what: str, call: Callable[[Provider], Any],
                    key: str, ttl: float, deadline: float
                    ) -> tuple[Stored | None, int, dict[str, str]]:
        """One provider's fetch (in a pool thread), stored when it succeeds, even late."""
        self._tl.sends = 0
        reasons: dict[str, str] = {}
        ok, value = self._attempt(p, what, lambda: call(p), deadline, reasons, ttl)
        stored = self.answers.put(key, value, p.name) if ok else None
        return stored, self._tl.sends, reasons

    def _hit(self, hit: Stored, what: str, start: float, record: bool) -> Answer:
        now = self.clock()
        log.info("Cache hit %s (%s, age %.1f s)", what, hit.source, hit.age(now))
        if record:
            self.metrics.user_request((time.perf_counter() - start) * 1000, cache_hit=True)
        return _answer(hit, now, cached=True)

    def _weight(self, p: Provider) -> float:
        h = self.health[p.name]
        speed = 1.0 / (1.0 + self._latency.get(p.name, 100.0) / 300.0)
        budget = max(0.05, h.budget.remaining() / h.budget.capacity)
        return p.weight * h.health_factor() * speed * budget

    def _order(self, kind: str, candidates: list[Provider], reasons: dict[str, str],
               charge: bool = True) -> list[Provider]:
        """Available candidates: the SWRR pick first, then the rest by weight. Records why the
        others are skipped. A hedge (`charge=False`) takes the best weight and leaves the
        rotation's credits alone, so slow moments do not reorder the rotation."""
        now = self.clock()
        ready: dict[str, float] = {}
        for p in candidates:
            why = self.health[p.name].unavailable_reason(now)
            if why is None and self.health[p.name].budget.remaining() == 0:
                why = f"request budget spent; refills in {self.health[p.name].budget.wait_s():.1f} s"
                self.metrics.budget_skip(p.name)
            if why is None:
                ready[p.name] = self._weight(p)
            else:
                reasons[p.name] = why
        if not ready:
            return []
        if not charge:
            order = sorted(ready, key=lambda n: -ready[n])
            return [self.providers[n] for n in order]
        with self._rr_lock:
            credit = self._rr.setdefault(kind, {})
            total = sum(ready.values())
            for name, w in ready.items():
                credit[name] = credit.get(name, 0.0) + w
            first = max(ready, key=lambda n: credit[n])
            credit[first] -= total
        rest = sorted((n for n in ready if n != first), key=lambda n: -ready[n])
        return [self.providers[first]] + [self.providers[n] for n in rest]

    def _attempt(self, p: Provider, what: str, call: Callable[[], Any],
                 deadline: float, reasons: dict[str, str], ttl: float) -> tuple[bool, Any]:
        """One try on one provider; every failure is turned into a reason and a health verdict."""
        name = p.name
        h = self.health[name]
        if self.clock() >= deadline:
            reasons[name] = "not tried: the call's deadline passed"
            return False, None
        if not h.claim():
            reasons[name] = "breaker half-open, probe in flight"
            return False, None
        log.info("SMART_ROUTING: Selected %s for %s", name, what)
        self.metrics.attempt(name)
        p.http.local.deadline = deadline
        p.http.local.expire_after = ttl
        try:
            value = call()
        except BudgetExhausted as exc:
            h.release_probe()
            self.metrics.budget_skip(name)
            reasons[name] = humanize(exc.message)
            return False, None
        except (UnknownSymbol, Unsupported) as exc:
            h.release_probe()
            self.metrics.failure(name, exc.kind, exc.message, "tried the next provider")
            reasons[name] = humanize(exc.message)
            return False, None
        except RateLimited as exc:
            default = p.rate_limit.ban_s if isinstance(exc, Banned) else p.rate_limit.cooldown_s
            wait = exc.retry_after if exc.retry_after is not None else default
            h.block(wait, "rate_limited", exc.message)
            self.metrics.failure(name, exc.kind, exc.message,
                                 f"cooldown {wait:.0f} s, tried the next provider")
            reasons[name] = f"{humanize(exc.message)} (cooling down {wait:.0f} s)"
            log.warning("%s rate limited us: cooling down %.0f s", name, wait)
            return False, None
        except NotConfigured as exc:
            h.block(DISABLED_FOR_S, "disabled", exc.message)
            self.metrics.failure(name, exc.kind, exc.message, "disabled for 10 min")
            reasons[name] = humanize(exc.message)
            return False, None
        except ProviderError as exc:
            text = exc.message if exc.status in (None, 200) or exc.message.startswith("HTTP ") \
                else f"HTTP {exc.status}: {exc.message}"
            h.failure(text)
            self.metrics.failure(name, exc.kind, text, "tried the next provider")
            reasons[name] = humanize(text)
            return False, None
        except (KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
            log.warning("%s sent an answer we could not read: %s: %s", name,
                        type(exc).__name__, exc)
            msg = MalformedResponse(name, "the answer did not have the expected shape")
            h.failure(msg.message)
            self.metrics.failure(name, msg.kind, msg.message, "tried the next provider")
            reasons[name] = msg.message
            return False, None
        h.success()
        self.metrics.success(name)
        return True, value

    def _retry_after(self, candidates: list[Provider]) -> float:
        now = self.clock()
        waits = []
        for p in candidates:
            h = self.health[p.name]
            reopen = h.reopens_at()
            waits.append(max(0.0, reopen - now) if reopen > now else h.budget.wait_s())
        positive = [w for w in waits if w > 0]
        return min(positive) if positive else 5.0

    # -- status ---------------------------------------------------------------------------------
    def provider_status(self) -> list[dict]:
        """One record per known provider, enabled or not, every number measured."""
        return self.status_snapshot()["providers"]

    def status_snapshot(self, now: float | None = None) -> dict:
        """{"providers": one record per provider, "errors": the provider errors of the last
        hour}, taken at one instant so each provider's errors_last_hour counts exactly its rows
        in "errors". State, reason and success rate come from status.assess."""
        now = self.clock() if now is None else now
        errors = self.metrics.errors_view(since=now - ERROR_WINDOW_S)
        per_provider: dict[str, int] = {}
        for e in errors:
            per_provider[e["provider"]] = per_provider.get(e["provider"], 0) + 1
        rows = []
        for name, p in self.providers.items():
            h = self.health[name]
            gate = h.gate()
            row = {
                "name": name, "label": p.label, "enabled": True,
                "kind": p.venue_kind, "deviation": gate["deviation"] or None,
                "capabilities": sorted(p.capabilities), "intervals": list(p.intervals),
                "quote_currency": p.quote_currency, "symbols": len(p.symbols),
                "rate_limit": {"documented": f"{p.rate_limit.requests} per "
                                             f"{p.rate_limit.per_seconds:g} s",
                               "note": p.rate_limit.note,
                               "budget": h.budget.capacity, "remaining": gate["budget_remaining"],
                               "budget_full": getattr(h.budget, "full_capacity",
                                                      h.budget.capacity),
                               "refill_s": round(gate["budget_refill_s"], 3)},
                "cooldown_until": h.blocked_until if h.blocked_until > now else None,
                "breaker_open_until": h.open_until if h.open_until > now else None,
                "weight": round(self._weight(p), 4), "base_weight": p.weight,
                "base_url": p.base_url,
            }
            row.update(self.metrics.provider_view(name))
            row["outliers"] = row.get("failures", {}).get("outlier", 0)
            row.update(assess(label=p.label, enabled=True, outcomes=self.metrics.outcomes(name),
                              gate=gate, last_error=row["last_error"],
                              last_success=row["last_success"], now=now))
            row["errors_last_hour"] = per_provider.get(name, 0)
            rows.append(row)
        for name, why in self.disabled.items():
            row = {"name": name, "label": name, "enabled": False, "capabilities": [],
                   "cooldown_until": None, "breaker_open_until": None}
            row.update(self.metrics.provider_view(name))
            row.update(assess(label=name, enabled=False, outcomes=(), gate={},
                              last_error=None, last_success=None, now=now,
                              disabled_reason=why))
            row["errors_last_hour"] = per_provider.get(name, 0)
            rows.append(row)
        return {"providers": rows, "errors": errors, "timestamp": now}

    def close(self) -> None:
        self.join_refreshes(timeout=self.deadline_s)
        self._bg.shutdown(wait=False, cancel_futures=True)
        self._pool.shutdown(wait=False, cancel_futures=True)
        self.state.close()
        self.metrics.close()
        self.answers.close()
        self.book.close()
        self.session.close()


def _fetch_size(n: int, p: Provider) -> int:
    """Candles are fetched in a few fixed sizes: a later, shorter request is served from the
    same answer, and the HTTP cache holds a handful of URLs per series, not one per limit."""
    size = next((s for s in CANDLE_FETCH_SIZES if s >= n), n)
    return max(n, min(size, p.max_candles))


def _fresh(hit: Stored | None, now: float, ttl: float,
           enough: Callable[[Any], bool] | None) -> bool:
    return hit is not None and hit.age(now) < ttl and (enough is None or enough(hit.value))


def _answer(s: Stored, now: float, *, cached: bool, stale: bool = False) -> Answer:
    return Answer(s.value, s.source, s.fetched_at, cached, stale, round(s.age(now), 3))


def _replace_value(a: Answer, value: Any) -> Answer:
    return Answer(value, a.source, a.fetched_at, a.cached, a.stale, a.age_s)
