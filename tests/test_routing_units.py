"""The router and the service functions with in-process venues: each venue is a Provider whose
fetch methods answer from a table (or raise the typed error a test scripts), so every answer,
reason, cooldown, breaker and status field can be checked exactly, on a stepped clock, in
milliseconds. The same behaviour over real HTTP is in test_router.py / test_promises_router.py;
these are the fast unit tests of the mutation test set (setup.cfg [mutmut])."""
from __future__ import annotations

import time

import pytest

from providers.base import (KIND_CANDLES, KIND_FEAR_GREED, KIND_NEWS, KIND_QUOTE, KIND_QUOTES,
                            KIND_TOP, Banned, Candle, FearGreed, MalformedResponse, NewsItem,
                            NotConfigured, Provider, Quote, RateLimit, RateLimited, TopCoin,
                            UnknownSymbol, UpstreamError)
from routing import InvalidInput, NoProviderAvailable
from routing.answers import AnswerStore
from routing.metrics import Metrics
from routing.persistence import Persistence
from routing.router import Router, _fetch_size
from routing.service import MarketService, price_answer
from routing.session import BudgetExhausted, build_session

T0 = 1_700_000_000.0
PRICES = {"BTC": 50_000.0, "ETH": 3_000.0, "SOL": 100.0}


class Venue(Provider):
    """A venue answering from `prices`; `fail` (an exception) is raised by every fetch while set."""
    label = "Venue"
    env_prefix = "UNIT_VENUE"
    default_base_url = "http://venue.invalid"
    rate_limit = RateLimit(100, 60, cooldown_s=45.0, ban_s=700.0)
    capabilities = frozenset({KIND_QUOTE, KIND_QUOTES})
    intervals = {"1h": "1h", "1d": "1d"}

    def __init__(self, name: str, prices: dict[str, float] | None = None, *,
                 capabilities=None, weight: float = 1.0, currency: str = "USD",
                 kind: str = "exchange", refresh_s: float = 0.0, max_candles: int = 300):
        super().__init__(http=None, base_url=f"http://{name}.invalid")
        self.name = name
        self.label = name.title()
        self.prices = dict(PRICES if prices is None else prices)
        self.symbols = {t: t for t in self.prices}
        if capabilities is not None:
            self.capabilities = frozenset(capabilities)
        self.weight = weight
        self.quote_currency = currency
        self.venue_kind = kind
        self.refresh_s = refresh_s
        self.max_candles = max_candles
        self.fail: Exception | None = None
        self.calls: list[tuple] = []

    def _call(self, *what):
        """One upstream call, booked as the routed session books a real send: the budget is
        asked first (a spent one raises), then the send is timed (a steady 60 ms here)."""
        self.calls.append(what)
        if self.http.budget is not None and not self.http.budget(1):
            raise BudgetExhausted(self.name, "request budget for this window is spent")
        self.http.on_send(self.name, 60.0, 200 if self.fail is None else 500)
        if self.fail is not None:
            raise self.fail

    def _quote(self, t: str) -> Quote:
        return Quote(t, self.prices[t], self.name, time.time(), self.quote_currency,
                     change_24h_pct=1.5, volume_24h=None, market_cap=None)

    def fetch_quote(self, ticker):
        self._call("quote", ticker)
        if ticker not in self.prices:
            raise UnknownSymbol(self.name, f"{ticker} is not listed")
        return self._quote(ticker)

    def fetch_quotes(self, tickers):
        self._call("quotes", tuple(tickers))
        return {t: self._quote(t) for t in tickers if t in self.prices}

    def fetch_candles(self, ticker, interval, limit):
        self._call("candles", ticker, interval, limit)
        return [Candle(1000 * i, 1.0, 2.0, 0.5, float(i), 3.0) for i in range(limit)]

    def fetch_top(self, limit):
        self._call("top", limit)
        return [TopCoin(i + 1, t, t.lower(), p, p * 1000, source="" if i else "exch")
                for i, (t, p) in enumerate(list(self.prices.items())[:limit])]

    def fetch_fear_greed(self):
        self._call("fear_greed")
        return FearGreed(42, "Fear", 1_699_999_000, self.name, 3600)

    def fetch_news(self, ticker, limit):
        self._call("news", ticker, limit)
        return [NewsItem(f"{self.name} {ticker or 'market'} {i}", f"http://n/{i}", self.name,
                         T0 - i) for i in range(limit)]




def three(**kw) -> tuple[Venue, Venue, Venue]:
    return Venue("alpha", **kw), Venue("beta", **kw), Venue("gamma", **kw)


def only(kind: str, name: str = "solo", **kw) -> Venue:
    return Venue(name, capabilities={kind}, **kw)


# -- quotes -------------------------------------------------------------------------------------

def test_a_cold_quote_asks_three_venues_at_once_and_is_confirmed(make):
    a, b, c = three()
    router = make(a, b, c)
    ans = router.get_quote(" btc ")
    assert ans.value.symbol == "BTC" and ans.value.price == 50_000.0
    assert ans.source == "alpha" and not ans.cached and not ans.stale and ans.age_s == 0.0
    assert ans.consensus.status == "ok" and ans.consensus.price == 50_000.0
    assert set(ans.consensus.sources) == {"alpha", "beta", "gamma"}
    # one snapshot per venue, of every coin it lists
    assert [v.calls for v in (a, b, c)] == [[("quotes", ("BTC", "ETH", "SOL"))]] * 3
    assert ans.fetched_at == T0


def test_a_fresh_quote_is_a_cache_hit_and_the_book_answers_other_coins(make, clock):
    a, b, c = three()
    router = make(a, b, c)
    router.get_quote("BTC")
    clock.advance(4.9)
    hit = router.get_quote("BTC")
    eth = router.get_quote("ETH")
    assert hit.cached and hit.age_s == 4.9 and not hit.stale
    assert eth.cached and eth.value.price == 3_000.0 and eth.age_s == 4.9
    assert sum(len(v.calls) for v in (a, b, c)) == 3
    t = router.metrics.totals_view()
    assert t["requests"] == 3 and t["cache_hits"] == 2 and t["upstream_calls"] == 3


def test_a_quote_past_its_5_s_is_served_at_once_and_refreshed_behind(make, clock):
    a, b, c = three()
    router = make(a, b, c)
    router.get_quote("BTC")
    clock.advance(5.0)
    old = router.get_quote("BTC")
    assert old.cached and not old.stale and old.age_s == 5.0 and old.fetched_at == T0
    assert router.join_refreshes(timeout=10)
    assert sum(len(v.calls) for v in (a, b, c)) == 4     # one venue refreshed it
    new = router.get_quote("BTC")
    assert new.fetched_at == T0 + 5.0 and new.cached


def test_a_failed_background_refresh_marks_the_quote_stale(make, clock):
    a, b, c = three()
    router = make(a, b, c)
    router.get_quote("BTC")
    for v in (a, b, c):
        v.fail = UpstreamError(v.name, "down", status=503)
    clock.advance(6)
    first = router.get_quote("BTC")
    assert not first.stale
    assert router.join_refreshes(timeout=10)
    again = router.get_quote("BTC")
    assert again.stale and again.cached and again.age_s == 6.0
    assert router.join_refreshes(timeout=10)


def test_past_the_stale_window_a_failing_quote_is_stale_and_says_why_in_the_log(make, clock,
                                                                                    caplog):
    a, b, c = three()
    router = make(a, b, c)
    router.get_quote("BTC")
    for v in (a, b, c):
        v.fail = UpstreamError(v.name, "down", status=503)
    clock.advance(61)
    with caplog.at_level("WARNING", logger="routing"):
        ans = router.get_quote("BTC")
    assert ans.stale and ans.cached and ans.age_s == 61.0 and ans.value.price == 50_000.0
    assert "Serving stale quote BTC from alpha (age 61 s)" in caplog.text
    assert "alpha: HTTP 503: down" in caplog.text
    t = router.metrics.totals_view()
    assert t["stale_answers"] == 1 and t["errors"] == 0


def test_no_quote_anywhere_is_a_503_with_every_reason(make):
    a, b, c = three()
    a.fail = RateLimited("alpha", "rate limited: slow", retry_after=30)
    b.fail = UpstreamError("beta", "HTTP 502")
    c.fail = MalformedResponse("gamma", "price is missing", status=200)
    router = make(a, b, c)
    with pytest.raises(NoProviderAvailable) as e:
        router.get_quote("BTC")
    assert e.value.reasons == {"alpha": "rate limited: slow (cooling down 30 s)",
                               "beta": "HTTP 502", "gamma": "price is missing"}
    assert e.value.retry_after == 30.0
    assert router.metrics.totals_view()["errors"] == 1


def test_an_outlier_is_not_served_and_its_venue_is_marked(make):
    a, b, c = three()
    d = Venue("delta")
    a.prices["BTC"] = 55_000.0                      # 10 % off the others
    router = make(a, b, c, d)
    ans = router.get_quote("BTC")
    assert ans.source != "alpha" and ans.value.price == 50_000.0
    assert router.health["alpha"].deviation == "BTC quote 10.0 % above the median of 2 venues"
    v = router.metrics.provider_view("alpha")
    assert v["failures"] == {"outlier": 1}
    assert ans.consensus.excluded == {"alpha": "outlier: 10.0 % above the median of 2 venues"}
    row = next(r for r in router.provider_status() if r["name"] == "alpha")
    assert row["outliers"] == 1 and row["deviation"] == router.health["alpha"].deviation
    assert row["state"] == "degraded"


def test_one_venue_alone_is_served_unchecked(make):
    router = make(Venue("alpha"))
    ans = router.get_quote("SOL")
    assert ans.value.price == 100.0 and ans.consensus.status == "single_source"


def test_batch_quotes_answer_known_and_report_unanswerable(make):
    a = Venue("alpha", {"BTC": 50_000.0, "ETH": 3_000.0})
    b = Venue("beta", {"BTC": 50_010.0, "SOL": 100.0})
    b.fail = UpstreamError("beta", "HTTP 500")
    router = make(a, b)
    answers, errors = router.get_quotes("btc, eth,BTC sol")
    assert list(answers) == ["BTC", "ETH"]
    assert answers["BTC"].value.price == 50_000.0 and not answers["BTC"].cached
    assert list(errors) == ["SOL"]
    assert errors["SOL"].startswith("no provider could answer quote SOL (beta: HTTP 500)")
    t = router.metrics.totals_view()
    assert t["requests"] == 1 and t["errors"] == 1 and t["cache_hits"] == 0
    with pytest.raises(NoProviderAvailable) as e:
        router.get_quotes(["SOL"])
    assert e.value.what == "quote SOL"


def test_batch_quotes_from_cache_are_hits(make, clock):
    router = make(*three())
    router.get_quotes(["BTC", "ETH"])
    clock.advance(1)
    answers, errors = router.get_quotes(["ETH", "BTC"])
    assert list(answers) == ["ETH", "BTC"] and not errors
    assert all(a.cached and a.age_s == 1.0 for a in answers.values())
    assert router.metrics.totals_view()["cache_hits"] == 1


def test_invalid_symbols_are_refused_before_any_call(make):
    a = Venue("alpha")
    router = make(a)
    with pytest.raises(InvalidInput) as e:
        router.get_quote("DOGE")
    assert e.value.param == "symbol"
    with pytest.raises(InvalidInput) as e:
        router.get_quotes([])
    assert e.value.param == "symbols"
    assert a.calls == []
    assert router.known_symbols() == frozenset(PRICES)
    assert router.known_symbols(KIND_CANDLES) == frozenset()


def test_usdt_venues_need_a_usd_rate_from_the_book(make):
    usd = Venue("usd", {"BTC": 50_000.0, "USDT": 1.001})
    usdt1 = Venue("t1", {"BTC": 49_950.0}, currency="USDT")
    usdt2 = Venue("t2", {"BTC": 49_950.0}, currency="USDT")
    router = make(usd, usdt1, usdt2)
    router.get_quote("BTC")
    assert router.usdt_usd() == pytest.approx(1.001)
    c = router.consensus("BTC")
    assert c.status == "ok" and c.price == pytest.approx(50_000.0, rel=1e-3)
    view = router.venues("BTC")
    rows = {r["venue"]: r for r in view["venues"]}
    assert rows["t1"]["price"] == 49_950.0
    assert rows["t1"]["price_usd"] == pytest.approx(49_950.0 * 1.001)
    assert rows["t1"]["quote_currency"] == "USDT" and rows["t1"]["kind"] == "exchange"
    assert rows["t1"]["used"] and rows["t1"]["reason"] == ""
    assert view["symbol"] == "BTC" and view["timestamp"] == T0
    assert view["served"]["price"] in (50_000.0, 49_950.0)


def test_venues_lists_each_venue_against_the_consensus(make, clock):
    a, b, c = three()
    c.prices["BTC"] = 50_100.0
    router = make(a, b, c)
    view = router.venues("btc")
    rows = {r["venue"]: r for r in view["venues"]}
    assert list(rows) == ["alpha", "beta", "gamma"]
    assert rows["gamma"]["deviation_bps"] == 20.0 and rows["alpha"]["deviation_bps"] == 0.0
    assert rows["alpha"]["age_s"] == 0.0 and rows["alpha"]["price_usd"] == 50_000.0
    assert view["consensus"]["status"] == "ok" and view["consensus"]["votes"] == 3
    assert view["served"] == {"source": "alpha", "price": 50_000.0, "quote_currency": "USD"}
    clock.advance(61)
    for v in (a, b, c):
        v.fail = UpstreamError(v.name, "down")
    stale = router.venues("BTC")
    assert stale["consensus"]["status"] == "stale"
    assert all(not r["used"] for r in stale["venues"])
    assert stale["venues"][0]["reason"] == "stale: 61 s old (max 60 s)"


def test_a_resting_venue_is_not_asked_again_within_its_refresh(make, clock):
    slow = Venue("slow", refresh_s=60.0, kind="aggregator")
    router = make(slow)
    router.get_quote("BTC")
    clock.advance(30)
    router.answers._items.clear()
    with pytest.raises(NoProviderAvailable) as e:
        router.get_quotes(["BTC"])
    assert e.value.reasons == {} and len(slow.calls) == 1
    clock.advance(30)
    assert router.get_quotes(["BTC"])[0]["BTC"].fetched_at == T0 + 60
    assert len(slow.calls) == 2


# -- the gates: what each failure does ---------------------------------------------------------

@pytest.mark.parametrize("error, reason, state, kind", [
    (RateLimited("solo", "rate limited: wait", retry_after=30.0),
     "rate limited: wait (cooling down 30 s)", "rate_limited", "rate_limit"),
    (RateLimited("solo", "rate limited: HTTP 429"),
     "rate limited: HTTP 429 (cooling down 45 s)", "rate_limited", "rate_limit"),
    (Banned("solo", "IP banned: go away"), "IP banned: go away (cooling down 700 s)",
     "rate_limited", "banned"),
    (NotConfigured("solo", "access refused: HTTP 401"), "access refused: HTTP 401", "disabled",
     "config"),
])
def test_a_rate_limit_ban_or_refusal_blocks_the_provider(make, clock, error, reason, state,
                                                          kind):
    v = only(KIND_FEAR_GREED)
    v.fail = error
    router = make(v)
    with pytest.raises(NoProviderAvailable) as e:
        router.get_fear_greed()
    assert e.value.reasons == {"solo": reason}
    h = router.health["solo"]
    wait = {"rate_limited": None, "disabled": 600.0}[state] or float(reason.split("cooling down ")[1].split(" ")[0])
    assert h.blocked_until == T0 + wait and e.value.retry_after == wait
    assert router.metrics.provider_view("solo")["failures"] == {kind: 1}
    row = router.provider_status()[0]
    assert row["state"] == state and row["cooldown_until"] == T0 + wait
    # blocked: not even asked again
    v.fail = None
    with pytest.raises(NoProviderAvailable) as e:
        router.get_fear_greed()
    assert len(v.calls) == 1
    assert e.value.reasons["solo"].startswith(("rate limited until", "disabled until"))
    clock.advance(wait)
    assert router.get_fear_greed().value.value == 42


@pytest.mark.parametrize("error, reason", [
    (UpstreamError("solo", "busy", status=503), "HTTP 503: busy"),
    (UpstreamError("solo", "HTTP 502"), "HTTP 502"),
    (UpstreamError("solo", "HTTP 500 from edge", status=500), "HTTP 500 from edge"),
    (MalformedResponse("solo", "price is missing", status=200), "price is missing"),
    (KeyError("price"), "the answer did not have the expected shape"),
    (ValueError("x"), "the answer did not have the expected shape"),
])
def test_failures_count_towards_the_breaker(make, clock, error, reason):
    v = only(KIND_FEAR_GREED)
    v.fail = error
    router = make(v)
    for n in (1, 2):
        with pytest.raises(NoProviderAvailable) as e:
            router.get_fear_greed()
        assert e.value.reasons == {"solo": reason}
        assert router.health["solo"].consecutive_failures == n
        assert router.health["solo"].open_until == 0.0
    with pytest.raises(NoProviderAvailable):
        router.get_fear_greed()
    h = router.health["solo"]
    assert h.open_until == T0 + 15.0 and h.block_reason == reason
    assert router.metrics.provider_view("solo")["failures"] == {error_kind(error): 3}
    with pytest.raises(NoProviderAvailable) as e:
        router.get_fear_greed()
    assert e.value.reasons["solo"].startswith("breaker open until")
    assert e.value.retry_after == 15.0 and len(v.calls) == 3


def error_kind(error: Exception) -> str:
    return getattr(error, "kind", "malformed")


def test_half_open_probe_success_closes_the_breaker(make, clock):
    v = only(KIND_FEAR_GREED)
    v.fail = UpstreamError("solo", "HTTP 500")
    router = make(v)
    for _ in range(3):
        with pytest.raises(NoProviderAvailable):
            router.get_fear_greed()
    clock.advance(15)
    v.fail = None
    assert router.get_fear_greed().source == "solo"
    h = router.health["solo"]
    assert h.open_until == 0.0 and h.consecutive_failures == 0 and h.opens == 0


def test_unknown_symbol_is_not_a_health_failure(make):
    v = Venue("solo", capabilities={KIND_QUOTE})
    v.fail = UnknownSymbol("solo", "BTC is not listed")
    router = make(v)
    with pytest.raises(NoProviderAvailable) as e:
        router.get_quote("BTC")
    assert e.value.reasons == {"solo": "BTC is not listed"}
    assert router.health["solo"].consecutive_failures == 0
    assert router.metrics.provider_view("solo")["failures"] == {"unknown_symbol": 1}
    assert router.metrics.errors_view() == []


def test_a_spent_budget_is_skipped_without_a_call(make):
    v = only(KIND_FEAR_GREED)
    v.fail = BudgetExhausted("solo", "request budget for this window is spent")
    router = make(v)
    with pytest.raises(NoProviderAvailable) as e:
        router.get_fear_greed()
    assert e.value.reasons == {"solo": "request budget for this window is spent"}
    assert router.metrics.provider_view("solo")["budget_skips"] == 1
    assert router.health["solo"].consecutive_failures == 0


def test_a_provider_without_budget_left_is_skipped_with_its_refill_time(make):
    v, w = only(KIND_FEAR_GREED), only(KIND_FEAR_GREED, "other")
    router = make(v, w)
    budget = router.health["solo"].budget
    while budget.try_spend(1):
        pass
    for _ in range(3):
        assert router.get_fear_greed().source == "other"
        router.answers._items.clear()
    assert v.calls == []
    assert router.metrics.provider_view("solo")["budget_skips"] == 3
    w.fail = UpstreamError("other", "HTTP 500")
    with pytest.raises(NoProviderAvailable) as e:
        router.get_fear_greed()
    assert e.value.reasons["solo"].startswith("request budget spent; refills in ")


# -- fallback, stale, rotation ------------------------------------------------------------------

def test_the_next_provider_answers_when_the_first_fails(make):
    first, second = only(KIND_FEAR_GREED, "first"), only(KIND_FEAR_GREED, "second")
    first.fail = UpstreamError("first", "HTTP 500")
    router = make(first, second)
    ans = router.get_fear_greed()
    assert ans.source == "second" and not ans.cached and ans.value.classification == "Fear"
    assert len(first.calls) == 1


def test_a_stale_answer_when_every_provider_fails(make, clock, caplog):
    v = only(KIND_FEAR_GREED)
    router = make(v)
    router.get_fear_greed()
    clock.advance(3600)
    v.fail = UpstreamError("solo", "HTTP 500")
    with caplog.at_level("WARNING", logger="routing"):
        ans = router.get_fear_greed()
    assert ans.stale and ans.cached and ans.age_s == 3600.0 and ans.source == "solo"
    assert "Serving stale fear & greed from solo (age 3600 s): solo: HTTP 500" in caplog.text
    t = router.metrics.totals_view()
    assert t["stale_answers"] == 1 and t["requests"] == 2


def test_rotation_follows_the_weights(make):
    heavy = only(KIND_TOP, "heavy")
    light = only(KIND_TOP, "light", weight=0.25)
    router = make(heavy, light)
    picks = [router._order(KIND_TOP, [heavy, light], {})[0].name for _ in range(10)]
    assert picks.count("light") == 2 and picks.count("heavy") == 8
    # a hedge takes the best weight and leaves the rotation alone
    credits = dict(router._rr[KIND_TOP])
    assert [p.name for p in router._order(KIND_TOP, [light, heavy], {}, charge=False)] == \
        ["heavy", "light"]
    assert router._rr[KIND_TOP] == credits


def test_the_weight_falls_with_latency_failures_and_spent_budget(make):
    v = only(KIND_TOP)
    router = make(v)
    assert router._weight(v) == pytest.approx(0.75)          # 100 ms assumed: 1 / (1 + 1/3)
    router._on_send("solo", 300.0, 200)
    assert router._weight(v) == pytest.approx(0.5)
    router._on_send("solo", 800.0, 200)                       # EWMA: 0.8 * 300 + 0.2 * 800
    assert router._latency["solo"] == pytest.approx(400.0)
    router.health["solo"].failure("x")
    assert router._weight(v) == pytest.approx(0.75 / (1 + 400 / 300))
    budget = router.health["solo"].budget
    while budget.try_spend(1):
        pass
    assert router._weight(v) == pytest.approx(0.05 * 0.75 / (1 + 400 / 300))


def test_retry_after_is_the_soonest_reopening(make, clock):
    a, b = only(KIND_TOP, "a"), only(KIND_TOP, "b")
    router = make(a, b)
    assert router._retry_after([a, b]) == 5.0
    router.health["a"].block(40, "rate_limited", "x")
    router.health["b"].block(25, "rate_limited", "x")
    assert router._retry_after([a, b]) == 25.0
    clock.advance(30)
    assert router._retry_after([a, b]) == 10.0
    assert router._retry_after([]) == 5.0


def test_hedge_delay_is_the_p95_clamped(make):
    v = only(KIND_TOP)
    router = make(v, deadline_s=10.0)
    assert router._hedge_delay("solo") == 2.0
    router.metrics.upstream_call("solo", 100.0, 200)
    assert router._hedge_delay("solo") == 0.3
    router.metrics.upstream_call("solo", 1000.0, 200)
    router.metrics.upstream_call("solo", 1000.0, 200)
    assert router._hedge_delay("solo") == pytest.approx(1.0)
    short = make(only(KIND_TOP), deadline_s=1.0)
    assert short._hedge_delay("solo") == pytest.approx(0.2)


# -- candles, top, fear & greed, news -----------------------------------------------------------

@pytest.mark.parametrize("n, max_candles, size", [
    (1, 300, 50), (50, 300, 50), (51, 300, 100), (150, 300, 200), (201, 300, 300),
    (250, 200, 250), (301, 1000, 500), (501, 1000, 501),
])
def test_candles_are_fetched_in_fixed_sizes(n, max_candles, size):
    v = Venue("v", max_candles=max_candles)
    assert _fetch_size(n, v) == size


def test_candles_serve_the_last_n_and_a_shorter_request_hits_the_cache(make, clock):
    v = Venue("solo", capabilities={KIND_CANDLES})
    router = make(v)
    ans = router.get_candles("btc", "1H", 60)
    assert v.calls == [("candles", "BTC", "1h", 100)]
    assert len(ans.value) == 60 and ans.value[-1].close == 99.0 and ans.value[0].close == 40.0
    clock.advance(119)
    again = router.get_candles("BTC", "1h", 30)
    assert again.cached and len(again.value) == 30 and len(v.calls) == 1
    more = router.get_candles("BTC", "1h", 150)          # more than stored: fetched anew
    assert len(more.value) == 150 and len(v.calls) == 2
    clock.advance(121)
    router.get_candles("BTC", "1h", 150)
    assert len(v.calls) == 3                              # 1h candles are fresh for 120 s


def test_candles_of_an_interval_no_one_has_name_the_ones_there_are(make):
    router = make(Venue("solo", capabilities={KIND_CANDLES}))
    with pytest.raises(InvalidInput) as e:
        router.get_candles("BTC", "5m", 10)
    assert e.value.param == "interval"
    assert e.value.message == "no enabled provider has 5m candles for BTC; available: 1h, 1d"
    with pytest.raises(InvalidInput) as e:
        router.get_candles("BTC", "1h", 400)
    assert e.value.message.endswith("available: 1h, 1d")


def test_top_coins_asks_for_at_least_50_and_serves_the_first_n(make, clock):
    v = only(KIND_TOP)
    router = make(v)
    ans = router.get_top_coins(2)
    assert v.calls == [("top", 50)]
    assert [c.symbol for c in ans.value] == ["BTC", "ETH"]
    clock.advance(59)
    assert router.get_top_coins(3).cached
    clock.advance(1)
    assert not router.get_top_coins(3).cached


def test_fear_greed_is_fresh_for_an_hour(make, clock):
    v = only(KIND_FEAR_GREED)
    router = make(v)
    router.get_fear_greed()
    clock.advance(3599)
    assert router.get_fear_greed().cached
    clock.advance(1)
    assert not router.get_fear_greed().cached


def test_news_one_answer_per_source_that_answers(make, clock):
    a = Venue("wire", capabilities={KIND_NEWS, KIND_QUOTES})
    b = Venue("blog", capabilities={KIND_NEWS})
    b.fail = UpstreamError("blog", "HTTP 500")
    router = make(a, b)
    out = router.get_news("eth", 3)
    assert [x.source for x in out] == ["wire"] and len(out[0].value) == 3
    assert a.calls == [("news", "ETH", 3)]
    market = router.get_news("market", 2)
    assert market[0].value[0].title == "wire market 0"
    assert router.get_news(None, 2)[0].cached
    a.fail = UpstreamError("wire", "HTTP 500")
    clock.advance(300)
    stale = router.get_news("ALL", 2)
    assert [x.source for x in stale] == ["wire"] and stale[0].stale
    with pytest.raises(NoProviderAvailable) as e:
        router.get_news("SOL", 2)
    assert e.value.reasons == {"wire": "failed", "blog": "failed"}
    assert e.value.retry_after == 60 and e.value.what == "news SOL"


# -- status -------------------------------------------------------------------------------------

def test_status_rows_of_enabled_and_disabled_providers(make, clock):
    v = only(KIND_FEAR_GREED)
    router = make(v, disabled={"paid": "needs PAID_KEY"})
    router.get_fear_greed()
    rows = {r["name"]: r for r in router.provider_status()}
    solo, paid = rows["solo"], rows["paid"]
    assert solo["enabled"] and solo["label"] == "Solo" and solo["kind"] == "exchange"
    assert solo["capabilities"] == ["fear_greed"] and solo["intervals"] == ["1h", "1d"]
    assert solo["rate_limit"] == {"documented": "100 per 60 s", "note": "", "budget": 80,
                                  "budget_full": 80, "remaining": 79, "refill_s": 0.0}
    assert solo["cooldown_until"] is None and solo["breaker_open_until"] is None
    # 60 ms per call: speed 1 / (1 + 60/300); one of its 80 budget units spent
    assert solo["weight"] == pytest.approx(round(79 / 80 / 1.2, 4)) and solo["base_weight"] == 1.0
    assert solo["base_url"] == "http://solo.invalid" and solo["symbols"] == 3
    assert solo["state"] == "online" and solo["successes"] == 1 and solo["deviation"] is None
    assert solo["errors_last_hour"] == 0 and solo["outliers"] == 0
    assert paid == {**paid, "enabled": False, "label": "paid", "capabilities": [],
                    "state": "disabled", "reason": "needs PAID_KEY", "errors_last_hour": 0,
                    "cooldown_until": None, "breaker_open_until": None}


def test_errors_of_the_last_hour_are_counted_per_provider(make, clock):
    v = only(KIND_FEAR_GREED)
    v.fail = UpstreamError("solo", "HTTP 500")
    router = make(v)
    with pytest.raises(NoProviderAvailable):
        router.get_fear_greed()
    clock.advance(10)
    snap = router.status_snapshot()
    assert snap["timestamp"] == T0 + 10 and len(snap["errors"]) == 1
    assert snap["providers"][0]["errors_last_hour"] == 1
    assert router.status_snapshot(now=T0 + 3600)["providers"][0]["errors_last_hour"] == 0


def test_saved_cooldowns_come_back_with_the_router(clock):
    persistence = Persistence(None)
    metrics = Metrics(persistence, clock=clock)
    metrics.health_state = {"solo": {"blocked_until": T0 + 50, "block_state": "rate_limited",
                                     "block_reason": "429", "open_until": 0.0, "opens": 0}}
    router = Router([only(KIND_TOP)], build_session(persistence, prune_every_s=3600), metrics,
                    AnswerStore(persistence, clock=clock), clock=clock)
    try:
        assert router.health["solo"].blocked_until == T0 + 50
        assert metrics.health_source()["solo"]["blocked_until"] == T0 + 50
    finally:
        router.close()


# -- the service functions ------------------------------------------------------------------------

def test_price_answer_carries_the_contract_fields(make, clock):
    router = make(*three())
    svc = MarketService(router)
    row = svc.price("eth")
    assert row == {**row, "symbol": "ETH", "price": 3_000.0, "source": "alpha",
                   "timestamp": round(row["timestamp"], 3), "quote_currency": "USD",
                   "cached": False, "age_s": 0.0, "stale": False, "change_24h_pct": 1.5}
    assert "volume_24h" not in row and "market_cap" not in row
    assert row["consensus"]["status"] == "ok" and row["consensus"]["price"] == 3_000.0
    assert abs(row["timestamp"] - time.time()) < 60


def test_market_cap_comes_from_the_cached_top_coins_when_the_source_has_none(make):
    quotes = three()
    top = only(KIND_TOP, "ranker")
    router = make(*quotes, top)
    svc = MarketService(router)
    assert "market_cap" not in svc.price("BTC")
    svc.top_coins(3)
    row = svc.price("BTC")
    assert row["market_cap"] == 50_000_000.0 and row["market_cap_source"] == "ranker"
    rows = svc.prices(["SOL", "ETH"])
    assert [r["symbol"] for r in rows] == ["SOL", "ETH"]
    assert rows[0]["market_cap"] == 100_000.0


def test_prices_lists_errors_per_symbol(make):
    a = Venue("alpha", {"BTC": 50_000.0})
    b = Venue("beta", {"SOL": 100.0})
    b.fail = UpstreamError("beta", "HTTP 500")
    svc = MarketService(make(a, b))
    rows = svc.prices("BTC,SOL")
    assert rows[0]["symbol"] == "BTC" and rows[0]["price"] == 50_000.0
    assert rows[1] == {"symbol": "SOL", "error": rows[1]["error"]}
    assert "beta: HTTP 500" in rows[1]["error"]


def test_ohlc_top_and_fear_greed_payloads(make):
    router = make(Venue("solo", capabilities={KIND_CANDLES, KIND_TOP, KIND_FEAR_GREED}))
    svc = MarketService(router)
    ohlc = svc.ohlc(" btc ", " 1h ", 2)
    assert ohlc == {"symbol": "BTC", "timeframe": "1h", "count": 2,
                    "ohlc": [{"timestamp": 48000, "open": 1.0, "high": 2.0, "low": 0.5,
                              "close": 48.0, "volume": 3.0},
                             {"timestamp": 49000, "open": 1.0, "high": 2.0, "low": 0.5,
                              "close": 49.0, "volume": 3.0}],
                    "source": "solo", "cached": False, "age_s": 0.0, "stale": False}
    top = svc.top_coins(2)
    assert top["count"] == 2 and top["timestamp"] == T0 and top["source"] == "solo"
    assert [c["source"] for c in top["coins"]] == ["solo", "solo"] or \
        [c["source"] for c in top["coins"]] == ["exch", "solo"]
    assert top["coins"][0]["source"] == "exch"           # a coin's own source is kept
    assert top["coins"][1]["source"] == "solo"           # else the answer's
    assert top["coins"][0]["rank"] == 1 and top["coins"][1]["symbol"] == "ETH"
    fg = svc.fear_greed()
    assert fg == {"value": 42, "classification": "Fear", "timestamp": 1_699_999_000,
                  "time_until_update_s": 3600, "source": "solo", "cached": False,
                  "age_s": 0.0, "stale": False}


def test_fresh_for_follows_the_router_ttls():
    assert MarketService.fresh_for_s("quote") == 5.0
    assert MarketService.fresh_for_s("top") == 60.0
    assert MarketService.fresh_for_s("candles", "1m") == 10.0
    assert MarketService.fresh_for_s("candles", "1w") == 900.0
    assert MarketService.fresh_for_s("candles") == 120.0
    assert MarketService.fresh_for_s("candles", "7y") == 120.0


def test_outage_says_when_the_next_try_is(make, clock):
    a, b = only(KIND_QUOTE, "alpha"), only(KIND_QUOTE, "beta")
    top = only(KIND_TOP, "ranker")
    router = make(a, b, top)
    svc = MarketService(router)
    router.health["alpha"].block(30, "rate_limited", "429")
    out = svc.outage("quote BTC", data_at=T0 - 120)
    assert out["message"] == ("All 2 price sources are failing right now; showing prices from "
                              "22:11 UTC (2 min old). Next retry in 30 s.")
    assert set(out["details"]) == {"Alpha", "Beta"}
    assert out["details"]["Alpha"].startswith("rate limited by Alpha")
    none = svc.outage("fear", next_try_s=12)
    assert none == {"message": "The Fear & Greed source is failing right now; there is "
                               "nothing saved to show yet. Next retry in 12 s.",
                    "details": {}}
    assert svc.outage("top coins")["details"] == {"Ranker": "not used yet"}
    assert svc.outage("quotes BTC,ETH")["message"].startswith("All 2 price sources")
    assert svc.outage("candles BTC 1h")["details"] == {}
    assert svc.outage("news market")["details"] == {}


def test_traffic_is_the_metrics_views(make):
    router = make(only(KIND_TOP))
    svc = MarketService(router)
    svc.top_coins(1)
    router.metrics.upstream_call("solo", 10.0, 200)
    t = svc.traffic()
    assert t["totals"]["requests"] == 1 and t["totals"]["upstream_calls"] == 2
    assert [r["provider"] for r in t["per_minute"]] == ["solo"]
    assert svc.provider_stats()[0]["name"] == "solo"


def test_system_status_every_field(make, clock):
    a, b = only(KIND_FEAR_GREED, "alpha"), only(KIND_FEAR_GREED, "beta")
    router = make(a, b, disabled={"paid": "needs PAID_KEY"})
    svc = MarketService(router, ai_status=lambda: {"state": "loaded", "model": "m", "device": "cpu",
                                                   "engine": "e", "inferences": 3,
                                                   "lexicon_inferences": 1, "avg_ms": 9.5,
                                                   "last_error": None},
                        queue_status=lambda: {"waiting": 0})
    svc.started_at = T0 - 100
    router.get_fear_greed()                                  # alpha answers
    router.metrics.hedge("beta")
    b.fail = UpstreamError("beta", "busy", status=503)
    router.answers._items.clear()
    router._rr.clear()
    router.health["alpha"].block(20, "rate_limited", "slow down")
    with pytest.raises(NoProviderAvailable):                 # alpha resting, beta failing
        router.get_fear_greed()
    s = svc.system_status()
    assert s["overall_health"] == "offline"
    assert s["overall_summary"] == ("2 of 2 providers have problems: Alpha (rate limited), "
                                    "Beta (down)")
    rows = {r["name"]: r for r in s["providers_detailed"]}
    assert rows["alpha"] == {
        "name": "alpha", "label": "Alpha", "status": "rate_limited",
        "state_label": "rate limited", "reason": "rate limited by Alpha for 20 s more",
        "response_time_ms": 60.0, "success_rate": 100.0, "recent_calls": 1,
        "recent_failures": 0, "errors_last_hour": 0, "last_check": T0, "last_success": T0,
        "error": None, "status_code": 200, "cached_until": T0 + 20, "requests": 1,
        "upstream_calls": 1, "share": 0.5, "rate_limit_hits": 0, "outliers": 0,
        "budget": {"budget": 80, "budget_full": 80, "remaining": 79, "refill_s": 0.0}}
    assert rows["beta"]["status_code"] == 500
    assert rows["beta"]["status"] == "down" and rows["beta"]["error"] == "HTTP 503: busy"
    assert rows["beta"]["last_check"] == T0 and rows["beta"]["last_success"] is None
    assert rows["beta"]["success_rate"] == 0.0 and rows["beta"]["errors_last_hour"] == 1
    assert rows["paid"]["status"] == "disabled" and rows["paid"]["label"] == "paid"
    assert rows["paid"]["requests"] == 0 and rows["paid"]["response_time_ms"] is None
    assert s["ai_models"] == {"transformers_loaded": True, "model": "m", "state": "loaded",
                              "device": "cpu", "engine": "e", "inferences": 3,
                              "lexicon_inferences": 1, "avg_ms": 9.5, "last_error": None}
    infra = s["infrastructure"]
    assert infra["cache_backend"] == "memory" and infra["cache_entries"] == 0
    assert infra["http_cache_entries"] == 0 and infra["data_dir"] is None
    assert infra["persistence"]["mode"] == "memory" and infra["uptime_s"] == 100.0
    assert infra["queue"] == {"waiting": 0}
    assert s["cache"] == {"entries_by_kind": {}, "hit_rate": 0.0,
                          "stale_served": 0}
    assert s["error_details"] == [{"provider": "beta", "type": "http", "count": 1,
                                   "message": "HTTP 503: busy",
                                   "action": "tried the next provider", "last_seen": T0}]
    perf = s["performance"]
    assert perf == {"avg_response_ms": perf["avg_response_ms"], "fastest_provider": None,
                    "fastest_time_ms": None, "cache_hit_rate": 0.0, "upstream_per_request": 1.0,
                    "requests": 2, "cache_hits": 0, "upstream_calls": 2, "errors": 1,
                    "provider_errors_last_hour": 1, "hedges": 1,
                    "hedges_by_provider": {"beta": 1}}
    assert s["timestamp"] == T0


def test_system_status_fastest_and_no_ai(make, clock):
    a, b = only(KIND_TOP, "alpha"), only(KIND_TOP, "beta")
    router = make(a, b)
    svc = MarketService(router)
    router.metrics.upstream_call("alpha", 300.0, 200)
    router.metrics.upstream_call("beta", 100.0, 200)
    router.metrics.success("alpha")
    router.metrics.success("beta")
    router.get_top_coins(1)
    router.get_top_coins(1)
    s = svc.system_status()
    assert s["cache"] == {"entries_by_kind": {"top": 1}, "hit_rate": 0.5, "stale_served": 0}
    assert s["infrastructure"]["cache_entries"] == 1
    assert s["overall_health"] == "online" and s["overall_summary"] == "All systems operational"
    assert s["performance"]["fastest_provider"] == "beta"
    assert s["performance"]["fastest_time_ms"] == 100.0
    assert s["performance"]["hedges_by_provider"] == {}
    assert s["ai_models"]["state"] == "not_installed"
    assert not s["ai_models"]["transformers_loaded"]
    assert s["infrastructure"]["queue"] is None


def test_system_status_on_disk(tmp_path, clock):
    from routing import build_router
    router = build_router(tmp_path / "data", env={"PROVIDERS": "binance"}, clock=clock)
    try:
        s = MarketService(router).system_status()
        infra = s["infrastructure"]
        assert infra["cache_backend"] == "sqlite" and infra["http_cache_entries"] == 0
        assert infra["data_dir"] == str(tmp_path / "data")
        assert infra["persistence"]["mode"] == "sqlite"
    finally:
        router.close()


def test_http_cache_entries_are_counted_at_most_every_30_s(make, monkeypatch):
    router = make(only(KIND_TOP))
    svc = MarketService(router)
    assert svc._http_cache_entries() == 0
    counted_at = svc._http_count[0]
    assert abs(counted_at - time.time()) < 5
    svc._http_count = (time.time() - 10, 7)
    assert svc._http_cache_entries() == 7
    svc._http_count = (time.time() - 31, 7)
    assert svc._http_cache_entries() == 0

    class NoCount:
        @property
        def responses(self):
            raise RuntimeError("cannot count")
    monkeypatch.setattr(router.session, "cache", NoCount())
    svc._http_count = (0.0, 5)
    assert svc._http_cache_entries() is None


def test_price_answer_keeps_optional_fields_only_when_present():
    from routing.router import Answer
    q = Quote("BTC", 1.0, "x", 123.45678, "USDT", change_24h_pct=None, volume_24h=0.0,
              market_cap=5.0)
    row = price_answer("BTC", Answer(q, "x", 1.0, True, True, 2.5))
    assert row == {"symbol": "BTC", "price": 1.0, "source": "x", "timestamp": 123.457,
                   "quote_currency": "USDT", "cached": True, "age_s": 2.5, "stale": True,
                   "volume_24h": 0.0, "market_cap": 5.0}


# -- hedging and the deadline (a venue held on an Event; deadline_s=0.5 keeps waits short) -----

class HeldVenue(Venue):
    """Answers only once `release` is set: a hung upstream."""

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        import threading
        self.release = threading.Event()

    def _call(self, *what):
        super()._call(*what)
        assert self.release.wait(10), "never released"      # safety bound only


def test_a_slow_pick_is_hedged_by_the_next_provider(make, caplog):
    slow = HeldVenue("slow", capabilities={KIND_FEAR_GREED})
    fast = only(KIND_FEAR_GREED, "fast")
    router = make(slow, fast, deadline_s=0.5)
    try:
        with caplog.at_level("INFO", logger="routing"):
            ans = router.get_fear_greed()
        assert ans.source == "fast"
        assert "HEDGE: slow slow for fear & greed; asking fast too" in caplog.text
        assert router.metrics.provider_view("fast")["hedges"] == 1
        assert router.metrics.totals_view()["hedges"] == 1
    finally:
        slow.release.set()
    assert router.join_fetches(timeout=10)


def test_a_hung_provider_ends_the_call_at_its_deadline(make, clock):
    slow = HeldVenue("slow", capabilities={KIND_FEAR_GREED})
    router = make(slow, deadline_s=0.3)
    try:
        with pytest.raises(NoProviderAvailable) as e:
            router.get_fear_greed()
        assert e.value.reasons == {"slow": "no answer within the call's 0.3 s deadline"}
        assert not router.join_fetches(timeout=0.01)
    finally:
        slow.release.set()
    assert router.join_fetches(timeout=10)
    # the late answer still filled the cache
    assert router.get_fear_greed().cached


def test_a_slow_quote_venue_is_hedged_and_the_late_snapshot_fills_the_book(make, clock, caplog):
    slow = HeldVenue("slow", weight=5.0)          # the rotation's pick
    router = make(slow, Venue("fast"), Venue("third"), deadline_s=0.5)
    slow.release.set()
    router.get_quote("BTC")                        # a cold book: all three asked at once
    slow.release.clear()
    clock.advance(10)                              # the book still votes, but cannot serve
    try:
        with caplog.at_level("INFO", logger="routing"):
            ans = router.get_quote("ETH")
        assert ans.source in ("fast", "third") and ans.value.price == 3_000.0
        assert f"HEDGE: slow slow for quotes ETH; asking {ans.source} too" in caplog.text
        assert router.metrics.provider_view(ans.source)["hedges"] == 1
    finally:
        slow.release.set()
    assert router.join_fetches(timeout=10)
    assert router.book.get("slow", "SOL").fetched_at == T0 + 10


def test_a_hung_quote_venue_ends_the_call_at_its_deadline(make):
    slow = HeldVenue("slow")
    router = make(slow, deadline_s=1.0)
    try:
        with pytest.raises(NoProviderAvailable) as e:
            router.get_quote("BTC")
        assert e.value.reasons == {"slow": "no answer within the call's 1 s deadline"}
    finally:
        slow.release.set()
    assert router.join_fetches(timeout=10)


def test_an_http_cache_hit_is_a_cached_answer_without_an_upstream_call(make):
    from tests.fake_upstream import JSONServer

    class HTTPVenue(Venue):
        def fetch_fear_greed(self):
            body = self.get_json("/fng", kind=KIND_FEAR_GREED)
            return FearGreed(int(body["value"]), "Fear", 1, self.name)

    server = JSONServer({"value": "40"})
    try:
        v = HTTPVenue("web", capabilities={KIND_FEAR_GREED})
        v.base_url = server.url
        router = make(v)
        first = router.get_fear_greed()
        assert not first.cached and first.value.value == 40
        router.answers._items.clear()              # only the HTTP cache still has it
        again = router.get_fear_greed()
        assert again.cached and len(server.paths) == 1
        view = router.metrics.provider_view("web")
        assert view["http_cache_hits"] == 1 and view["upstream_calls"] == 1
        assert view["requests"] == 2 and view["successes"] == 2
    finally:
        server.close()


def test_service_venues_is_the_routers(make):
    router = make(*three())
    view = MarketService(router).venues("sol")
    assert view["symbol"] == "SOL" and [r["venue"] for r in view["venues"]] == \
        ["alpha", "beta", "gamma"]


def test_news_defaults_market_words_and_a_failing_first_feed(make):
    a = Venue("wire", capabilities={KIND_NEWS, KIND_QUOTES})
    b = Venue("blog", capabilities={KIND_NEWS})
    a.fail = UpstreamError("wire", "HTTP 500")
    router = make(a, b)
    out = router.get_news("ETH")
    assert [x.source for x in out] == ["blog"] and b.calls == [("news", "ETH", 20)]
    for word in ("", "all", "ALL", "market", None):
        router.answers._items.clear()
        router.get_news(word, 2)
        assert b.calls[-1] == ("news", None, 2)
    with pytest.raises(InvalidInput) as e:
        router.get_news("ETH", 0)
    assert e.value.param == "limit"
    b.fail = UpstreamError("blog", "HTTP 500")
    router.answers._items.clear()
    with pytest.raises(NoProviderAvailable) as e:
        router.get_news("market")
    assert e.value.what == "news market"


def test_outage_counts_the_sources_of_each_kind(make):
    router = make(Venue("q", capabilities={KIND_QUOTES}), only(KIND_CANDLES, "c"),
                  only(KIND_NEWS, "n"), only(KIND_FEAR_GREED, "f"))
    svc = MarketService(router)
    assert svc.outage("quote BTC")["details"] == {"Q": "not used yet"}
    assert svc.outage("quotes BTC,ETH")["details"] == {"Q": "not used yet"}
    assert svc.outage("candles BTC 1h")["details"] == {"C": "not used yet"}
    assert svc.outage("news market")["details"] == {"N": "not used yet"}
    assert svc.outage("fear & greed")["details"] == {"F": "not used yet"}
    assert svc.outage("something else") == {
        "message": "The data source is failing right now; there is nothing saved to show yet.",
        "details": {}}


def test_candle_and_top_parameters_are_named_in_errors(make):
    router = make(Venue("solo", capabilities={KIND_CANDLES, KIND_TOP}))
    for call, param in [(lambda: router.get_candles("BTC", "7m", 10), "interval"),
                        (lambda: router.get_candles("BTC", "1h", 0), "limit"),
                        (lambda: router.get_candles("BTC", "1h", "x"), "limit"),
                        (lambda: router.get_top_coins(0), "limit"),
                        (lambda: router.get_top_coins(101), "limit")]:
        with pytest.raises(InvalidInput) as e:
            call()
        assert e.value.param == param


def test_candles_up_to_the_providers_maximum_and_per_interval(make, clock):
    v = Venue("solo", capabilities={KIND_CANDLES}, max_candles=300)
    q = Venue("quoter", capabilities={KIND_QUOTES})
    q.intervals = {"4h": "4h"}                      # a quote venue's intervals are not offered
    router = make(v, q)
    assert len(router.get_candles("BTC", "1h", 300).value) == 300
    with pytest.raises(InvalidInput) as e:
        router.get_candles("BTC", "4h", 10)
    assert e.value.message == "no enabled provider has 4h candles for BTC; available: 1h, 1d"
    router.get_candles("BTC", "1d", 100)
    assert [c[2] for c in v.calls] == ["1h", "1d"]
    assert router.get_candles("BTC", "1d", 100).cached and len(v.calls) == 2
    v.fail = UpstreamError("solo", "HTTP 500")
    with pytest.raises(NoProviderAvailable) as e:
        router.get_candles("ETH", "1h", 5)
    assert e.value.what == "candles ETH 1h"


def test_outliers_of_each_snapshot_are_counted_once(make, clock):
    a, b, c = three()
    d = Venue("delta")
    a.prices["BTC"] = 55_000.0
    router = make(a, b, c, d)
    router.get_quote("BTC")
    router.consensus("BTC")
    [err] = router.metrics.errors_view()
    assert err["kind"] == "outlier" and err["action"] == "not served; used another venue"
    assert err["message"] == "BTC quote 10.0 % above the median of 2 venues"
    clock.advance(6)
    router.answers._items.clear()
    router._rr.clear()
    a.weight = 50.0                                 # the rotation picks the outlier again
    router.get_quote("BTC")
    assert router.metrics.provider_view("alpha")["failures"] == {"outlier": 2}


def test_cache_hit_timing_is_in_milliseconds(make):
    router = make(only(KIND_TOP))
    router.get_top_coins(1)
    for _ in range(5):
        router.get_top_coins(1)
    # 6 calls, real elapsed time: well above a microsecond, far below a minute each
    assert 0.001 < router.metrics.totals_view()["avg_response_ms"] < 60_000


def test_system_status_rounds_the_success_rate_and_hides_an_online_providers_old_error(make,
                                                                                       clock):
    v = only(KIND_TOP)
    router = make(v)
    for ok in (True, True, True, True, True, True, True, True, True, True, True, False):
        router.metrics.success("solo") if ok else router.metrics.failure("solo", "http", "x", "y")
    router.metrics.success("solo")
    row = MarketService(router).system_status()["providers_detailed"][0]
    assert row["status"] == "online" and row["error"] is None
    assert row["success_rate"] == 92.3                         # 12 of 13


def test_service_defaults(make, clock):
    router = make(Venue("solo", capabilities={KIND_CANDLES, KIND_TOP}))
    svc = MarketService(router)
    clock.advance(0.12345)
    ohlc = svc.ohlc("BTC")
    assert ohlc["timeframe"] == "1h" and ohlc["count"] == 100
    top = svc.top_coins()
    assert top["timestamp"] == round(T0 + 0.12345, 3) and top["count"] == 3
    assert v_calls(router) == [("candles", "BTC", "1h", 100), ("top", 50)]


def v_calls(router):
    return router.providers["solo"].calls


def test_venue_rows_are_rounded_as_documented(make, clock):
    usd = Venue("usd", {"BTC": 50_000.0, "USDT": 1.0012345})
    t1 = Venue("t1", {"BTC": 49_950.123456}, currency="USDT")
    t2 = Venue("t2", {"BTC": 49_950.0}, currency="USDT")
    router = make(usd, t1, t2)
    router.get_quote("BTC")
    clock.advance(1.23456)
    view = router.venues("BTC")
    rows = {r["venue"]: r for r in view["venues"]}
    assert rows["t1"]["price_usd"] == round(49_950.123456 * 1.0012345, 10)
    assert rows["t1"]["age_s"] == 1.2
    centre = view["consensus"]["price"]
    assert rows["usd"]["deviation_bps"] == round((50_000.0 - centre) / centre * 1e4, 2)
    assert rows["usd"]["deviation_bps"] != round((50_000.0 - centre) / centre * 1e4, 3)
    assert view["timestamp"] == round(T0 + 1.23456, 3)


def test_venue_rows_without_a_usd_rate_or_with_a_venue_no_longer_enabled(make):
    t1 = Venue("t1", {"BTC": 49_950.0}, currency="USDT")
    usd = Venue("usd", {"BTC": 50_000.0})
    router = make(t1, usd)
    router.book.put("aaa-gone", {"BTC": Quote("BTC", 1.0, "aaa-gone", time.time())})
    view = router.venues("BTC")
    rows = {r["venue"]: r for r in view["venues"]}
    assert list(rows) == ["t1", "usd"]
    assert rows["t1"]["price_usd"] is None and rows["t1"]["deviation_bps"] is None
    assert rows["t1"]["reason"] == "quoted in USDT and the book has no USDT/USD rate"


def test_top_coins_refetches_when_fewer_are_stored_than_asked(make, clock):
    v = only(KIND_TOP)
    router = make(v)
    assert len(router.get_top_coins().value) == 3 and v.calls == [("top", 50)]
    router.get_top_coins(3)
    assert len(v.calls) == 1
    router.get_top_coins(5)                        # 3 stored, 5 asked: asked again
    assert len(v.calls) == 2
    v.fail = UpstreamError("solo", "HTTP 500")
    clock.advance(61)
    router.answers._items.clear()
    with pytest.raises(NoProviderAvailable) as e:
        router.get_top_coins(2)
    assert e.value.what == "top 2 coins"


# -- quotes: hits, the stale window and a busy coin, single and batch -----------------------------

def test_quote_hits_carry_the_consensus_of_their_coin(make, clock):
    router = make(*three())
    router.get_quote("BTC")
    clock.advance(1)
    hit = router.get_quote("BTC")
    assert hit.consensus.status == "ok" and hit.consensus.price == 50_000.0
    clock.advance(5)
    behind = router.get_quote("BTC")                  # in the stale window
    assert behind.consensus.price == 50_000.0 and behind.consensus.votes == 3
    assert router.join_refreshes(timeout=10)
    answers, _ = router.get_quotes(["ETH", "BTC"])
    assert answers["ETH"].consensus.price == 3_000.0 and answers["BTC"].consensus.votes == 3


def test_a_batch_in_the_stale_window_is_served_and_refreshed_behind(make, clock):
    a, b, c = three()
    router = make(a, b, c)
    router.get_quotes(["BTC", "ETH"])
    clock.advance(6)
    answers, errors = router.get_quotes(["BTC", "ETH"])
    assert not errors and all(x.cached and not x.stale and x.age_s == 6.0
                              for x in answers.values())
    assert answers["BTC"].value.price == 50_000.0
    assert router.join_refreshes(timeout=10)
    assert router.answers.get("quote:BTC").fetched_at == T0 + 6
    t = router.metrics.totals_view()
    assert t["requests"] == 2 and t["cache_hits"] == 1 and t["stale_answers"] == 0
    for v in (a, b, c):
        v.fail = UpstreamError(v.name, "HTTP 500")
    clock.advance(6)
    router.get_quotes(["BTC"])
    assert router.join_refreshes(timeout=10)
    answers, _ = router.get_quotes(["BTC"])
    assert answers["BTC"].stale and answers["BTC"].cached
    for v in (a, b, c):
        v.fail = None
    clock.advance(6)
    router.get_quotes(["BTC"])
    assert router.join_refreshes(timeout=10)
    answers, _ = router.get_quotes(["BTC"])
    assert not answers["BTC"].stale                   # a refresh that worked clears it


def test_a_batch_past_the_stale_window_serves_stale_and_says_so(make, clock):
    a, b, c = three()
    router = make(a, b, c)
    router.get_quotes(["BTC"])
    for v in (a, b, c):
        v.fail = UpstreamError(v.name, "HTTP 500")
    clock.advance(61)
    answers, errors = router.get_quotes(["BTC", "ETH"])
    assert list(answers) == ["BTC"] and answers["BTC"].stale and answers["BTC"].cached
    assert answers["BTC"].value.price == 50_000.0 and answers["BTC"].age_s == 61.0
    assert errors["ETH"].startswith("no provider could answer quote ETH (")
    assert all(f"{v}: HTTP 500" in errors["ETH"] for v in ("alpha", "beta", "gamma"))
    t = router.metrics.totals_view()
    assert t["stale_answers"] == 1 and t["errors"] == 1 and t["cache_hits"] == 0


def test_a_batch_names_only_the_venues_that_list_the_coin(make):
    a = Venue("alpha", {"BTC": 50_000.0})
    b = Venue("beta", {"SOL": 100.0})
    a.fail = UpstreamError("alpha", "HTTP 500")
    b.fail = UpstreamError("beta", "HTTP 503")
    router = make(a, b)
    with pytest.raises(NoProviderAvailable) as e:
        router.get_quotes(["SOL"])
    assert e.value.reasons == {"beta": "HTTP 503"}


def test_a_coin_being_fetched_elsewhere_waits_then_says_so(make, clock):
    router = make(*three(), deadline_s=0.2)
    lock = router._key_lock("quote:BTC")
    lock.acquire()
    try:
        with pytest.raises(NoProviderAvailable) as e:
            router.get_quote("BTC")
        assert e.value.what == "quote BTC"
        assert e.value.reasons == {"router": "another fetch of this coin is still in flight"}
        t = router.metrics.totals_view()
        assert t["errors"] == 1 and t["cache_hits"] == 0 and t["requests"] == 1
    finally:
        lock.release()
    router.get_quote("BTC")
    clock.advance(61)
    lock.acquire()
    try:
        stale = router.get_quote("BTC")
        assert stale.stale and stale.cached and stale.value.price == 50_000.0
        assert stale.consensus.status == "stale"
        t = router.metrics.totals_view()
        assert t["stale_answers"] == 1 and t["cache_hits"] == 1
    finally:
        lock.release()


def test_aggregators_share_one_vote_so_a_thin_book_asks_exchanges(make):
    g1 = Venue("g1", kind="aggregator", weight=5.0)
    g2 = Venue("g2", kind="aggregator", weight=4.0)
    e1, e2 = Venue("e1"), Venue("e2")
    router = make(g1, g2, e1, e2)
    ans = router.get_quote("BTC")
    assert ans.consensus.status == "ok" and ans.consensus.votes == 3
    assert len(g1.calls) == 1 and g2.calls == [] and len(e1.calls) == len(e2.calls) == 1


def test_consensus_follows_the_book_within_the_same_second(make):
    a, b, c = three()
    router = make(a, b, c)
    router.get_quote("BTC")
    assert router.consensus("BTC").price == 50_000.0
    now = time.time()
    router.book.put("beta", {"BTC": Quote("BTC", 50_010.0, "beta", now)})
    router.book.put("gamma", {"BTC": Quote("BTC", 50_010.0, "gamma", now)})
    assert router.consensus("BTC").price == 50_010.0
    assert router.consensus("ETH").price == 3_000.0


def test_the_usdt_rate_is_the_newest_quote_once_they_are_all_old(make, clock):
    u1 = Venue("u1", {"BTC": 50_000.0, "USDT": 1.002})
    u2 = Venue("u2", {"BTC": 50_000.0, "USDT": 1.004})
    odd = Venue("odd", {"BTC": 49_900.0, "USDT": 1.5}, currency="USDT")
    router = make(u1, u2, odd)
    router.get_quote("BTC")
    assert router.usdt_usd() == pytest.approx(1.003)       # the USD venues' consensus
    clock.advance(10)
    router.book.put("u2", {"USDT": Quote("USDT", 1.004, "u2", time.time())})
    clock.advance(100)                                      # all older than 60 s
    assert router.usdt_usd() == pytest.approx(1.004)
    assert router.usdt_usd(now=T0 + 1) == pytest.approx(1.003)


def test_news_feeds_share_one_deadline(make):
    first = HeldVenue("first", capabilities={KIND_NEWS})
    second = HeldVenue("second", capabilities={KIND_NEWS})
    router = make(first, second, Venue("q", capabilities={KIND_QUOTES}), deadline_s=0.3)
    try:
        with pytest.raises(NoProviderAvailable):
            router.get_news("BTC", 2)
        assert len(first.calls) == 1 and second.calls == []   # no time was left for it
    finally:
        first.release.set()
        second.release.set()
    assert router.join_fetches(timeout=10)


def test_a_miss_waits_for_the_snapshot_round_in_flight_instead_of_asking_again(make):
    import threading
    a, b, c = three()
    router = make(a, b, c, deadline_s=5.0)
    router._refresh_lock.acquire()                 # another call's snapshot round
    got = {}
    waiter = threading.Thread(target=lambda: got.update(ans=router.get_quote("BTC")))
    try:
        waiter.start()
        time.sleep(0.1)                            # let it start waiting (not a timing assert)
        now = time.time()
        for v in (a, b, c):
            router.book.put(v.name, {"BTC": Quote("BTC", 50_000.0, v.name, now)})
        waiter.join(timeout=10)
    finally:
        router._refresh_lock.release()
    assert got["ans"].value.price == 50_000.0
    assert a.calls == b.calls == c.calls == []      # answered from the round in flight


def test_status_rows_show_errors_breakers_and_old_successes(make, clock):
    v = only(KIND_FEAR_GREED)
    router = make(v, disabled={"paid": "needs PAID_KEY"})
    router.metrics.success("paid")                  # e.g. saved from a run where it was on
    router.get_fear_greed()
    clock.advance(7200)
    row = router.provider_status()[0]
    assert row["quote_currency"] == "USD"
    assert row["reason"] == "no calls in the last hour; last answer at 22:13 UTC"
    v.fail = UpstreamError("solo", "HTTP 500")
    router.answers._items.clear()
    for _ in range(3):
        with pytest.raises(NoProviderAvailable):
            router.get_fear_greed()
        router.answers._items.clear()
    rows = {r["name"]: r for r in router.provider_status()}
    assert rows["solo"]["errors_last_hour"] == 3
    assert rows["solo"]["breaker_open_until"] == T0 + 7200 + 15
    assert rows["solo"]["reason"] == "3 of the last 3 calls failed (HTTP 500); paused for 15 s more"
    assert rows["paid"]["successes"] == 1
    router.health["solo"].block(0, "rate_limited", "x")
    assert router.provider_status()[0]["cooldown_until"] is None
    clock.advance(15)
    assert router.provider_status()[0]["breaker_open_until"] is None


def test_a_quotes_own_market_cap_is_kept(make):
    import dataclasses

    class Capped(Venue):
        def _quote(self, t):
            return dataclasses.replace(super()._quote(t), market_cap=123.0)

    top = Venue("ranker", {"BTC": 50_000.0}, capabilities={KIND_TOP})
    router = make(Capped("alpha"), Capped("beta"), Capped("gamma"), top)
    svc = MarketService(router)
    svc.top_coins(1)
    row = svc.price("BTC")
    assert row["market_cap"] == 123.0 and "market_cap_source" not in row


def test_a_coin_missing_from_the_top_list_gets_no_market_cap(make):
    top = Venue("ranker", {"BTC": 50_000.0}, capabilities={KIND_TOP})
    router = make(*three(), top)
    svc = MarketService(router)
    svc.top_coins(1)
    row = svc.price("ETH")
    assert "market_cap" not in row and "market_cap_source" not in row


def test_system_status_counts_rounding_and_ai_error(make, clock, monkeypatch):
    import routing.service as service
    v = only(KIND_TOP)
    v.fail = RateLimited("solo", "rate limited: slow", retry_after=1)
    router = make(v)
    svc = MarketService(router, ai_status=lambda: {"state": "failed", "last_error": "boom"})
    svc.started_at = T0 - 100.26
    with pytest.raises(NoProviderAvailable):
        router.get_top_coins(1)
    router.metrics.failure("solo", "outlier", "BTC off", "not served")
    clock.advance(0.12345)
    s = svc.system_status()
    row = s["providers_detailed"][0]
    assert row["rate_limit_hits"] == 1 and row["outliers"] == 1
    assert s["ai_models"]["last_error"] == "boom" and not s["ai_models"]["transformers_loaded"]
    assert s["infrastructure"]["uptime_s"] == 100.4
    assert s["timestamp"] == round(T0 + 0.12345, 3)


def test_http_cache_entries_recount_after_30_s(make, monkeypatch):
    import routing.service as service

    class Clock:
        now = 1_000.0

        def time(self):
            return self.now
    fake = Clock()
    monkeypatch.setattr(service, "time", fake)
    svc = MarketService(make(only(KIND_TOP)))
    svc._http_count = (1_000.0 - 30, 7)
    assert svc._http_cache_entries() == 7                 # exactly 30 s: not yet
    svc._http_count = (1_000.0 - 30.5, 7)
    assert svc._http_cache_entries() == 0


def test_a_batch_hit_exactly_at_5_s_is_refreshed_and_keeps_its_consensus(make, clock):
    a, b, c = three()
    router = make(a, b, c)
    router.get_quotes(["BTC"])
    clock.advance(5.0)
    answers, _ = router.get_quotes(["BTC"])
    assert answers["BTC"].consensus.votes == 3
    assert router.join_refreshes(timeout=10)
    assert sum(len(v.calls) for v in (a, b, c)) == 4
    for v in (a, b, c):
        v.fail = UpstreamError(v.name, "HTTP 500")
    clock.advance(61)
    answers, _ = router.get_quotes(["BTC"])
    assert answers["BTC"].stale and answers["BTC"].consensus.status == "stale"
    assert 0.001 < router.metrics.totals_view()["avg_response_ms"] < 60_000


def test_one_fetch_per_key_at_a_time_and_other_keys_are_not_held_up(make):
    import threading
    top = HeldVenue("top", capabilities={KIND_TOP})
    fg = only(KIND_FEAR_GREED, "fg")
    router = make(top, fg, deadline_s=5.0)
    results = []
    first = threading.Thread(target=lambda: results.append(router.get_top_coins(2)))
    second = threading.Thread(target=lambda: results.append(router.get_top_coins(2)))
    try:
        first.start()
        deadline = time.monotonic() + 10                    # safety bound only
        while not top.calls and time.monotonic() < deadline:
            time.sleep(0.01)                                # until the first fetch is out
        second.start()
        assert router.get_fear_greed().source == "fg"       # another key answers at once
    finally:
        top.release.set()
    first.join(timeout=10)
    second.join(timeout=10)
    assert len(top.calls) == 1 and len(results) == 2
    assert sorted(r.cached for r in results) == [False, True]


def test_a_key_being_fetched_elsewhere_says_so_and_when_to_retry(make, clock):
    v = only(KIND_TOP)
    router = make(v, deadline_s=0.2)
    router.health["solo"].block(30, "rate_limited", "429")
    lock = router._key_lock(KIND_TOP)
    lock.acquire()
    try:
        with pytest.raises(NoProviderAvailable) as e:
            router.get_top_coins(1)
    finally:
        lock.release()
    assert e.value.reasons == {"router": "another fetch of top 1 coins is still in flight"}
    assert e.value.retry_after == 30.0
    t = router.metrics.totals_view()
    assert t["errors"] == 1 and t["cache_hits"] == 0 and 0.001 < t["avg_response_ms"] < 60_000


def test_cache_hits_and_stale_answers_are_counted_with_their_time(make, clock):
    v = only(KIND_FEAR_GREED)
    router = make(v)
    router.get_fear_greed()
    router.answers._items.clear()                   # the next one is an HTTP-less re-fetch
    clock.advance(1)
    router.get_fear_greed()
    clock.advance(3600)
    v.fail = UpstreamError("solo", "HTTP 500")
    stale = router.get_fear_greed()
    assert stale.stale
    t = router.metrics.totals_view()
    assert t["requests"] == 3 and t["stale_answers"] == 1 and t["cache_hits"] == 1
    assert 0.001 < t["avg_response_ms"] < 60_000
