"""The consensus math on its own: weighted median with capped weights, the MAD band, the
aggregators' single vote, quorum statuses, age cut-offs, confidence, spread, USDT conversion."""
from __future__ import annotations

import pytest

from routing import consensus as cons
from routing.consensus import AGGREGATOR, EXCHANGE, VenueQuote


def ex(venue, price, *, age=1.0, volume=None, ccy="USD"):
    return VenueQuote(venue, EXCHANGE, ccy, price, age, volume)


def agg(venue, price, *, age=10.0):
    return VenueQuote(venue, AGGREGATOR, "USD", price, age, None)


def test_weighted_median_equal_weights_is_the_median():
    assert cons.weighted_median([3, 1, 2], [1, 1, 1]) == 2
    assert cons.weighted_median([1, 2, 3, 4], [1, 1, 1, 1]) == 2.5


def test_no_venue_carries_more_than_half_the_weight():
    assert cons.capped_weights([1, 1, 100]) == [1, 1, 2]
    # uncapped, the 100-weight venue alone would set the median at 102
    assert cons.weighted_median([100, 101, 102], cons.capped_weights([1, 1, 100])) == 101.5
    assert cons.weighted_median([100, 101, 102], [1, 1, 100]) == 102


def test_volume_weights_move_the_median_within_the_cap():
    c = cons.consensus([ex("a", 100.0, volume=1e6), ex("b", 100.1, volume=1e6),
                        ex("c", 100.15, volume=8e6)], None)
    assert c.price == pytest.approx(100.125)        # c capped at half: midpoint of b and c
    assert c.status == "ok" and c.excluded == {}


def test_mad_band_rejects_a_venue_5_percent_off():
    quotes = [ex("a", 100.0), ex("b", 100.01), ex("c", 99.99), ex("d", 100.02), ex("liar", 105.0)]
    c = cons.consensus(quotes, None)
    assert c.excluded == {"liar": "outlier: 5.0 % above the median of 4 venues"}
    assert c.sources == ("a", "b", "c", "d")
    assert c.price == pytest.approx(100.005) and c.status == "ok" and c.votes == 4
    assert c.band_bps == pytest.approx(25.0)         # MAD tiny: the 25 bps floor decides


def test_band_floor_keeps_venues_within_25_bps():
    c = cons.consensus([ex("a", 100.0), ex("b", 100.2), ex("c", 99.85)], None)
    assert c.excluded == {} and len(c.sources) == 3
    c = cons.consensus([ex("a", 100.0), ex("b", 100.01), ex("c", 99.7)], None)
    assert set(c.excluded) == {"c"} and c.excluded["c"].startswith("outlier: 0.3 % below")


def test_wide_disagreement_widens_the_band_instead_of_rejecting():
    c = cons.consensus([ex("a", 100.0), ex("b", 101.0), ex("c", 102.0)], None)
    assert c.excluded == {}
    assert c.band_bps == pytest.approx(3 * 1.4826 * 1.0 / 101.0 * 1e4)


def test_aggregators_together_are_one_vote():
    c = cons.consensus([ex("kraken", 100.0), agg("coingecko", 100.01),
                        agg("coinpaprika", 99.99), agg("cryptocompare", 100.02)], None)
    assert c.votes == 2 and c.status == "degraded"
    assert set(c.sources) == {"kraken", "coingecko", "coinpaprika", "cryptocompare"}


def test_aggregators_cannot_outvote_exchanges():
    quotes = [ex("a", 100.0), ex("b", 100.01)] + [agg(f"g{i}", 105.0) for i in range(5)]
    c = cons.consensus(quotes, None)
    assert c.sources == ("a", "b") and len(c.excluded) == 5
    assert c.price == pytest.approx(100.005)


@pytest.mark.parametrize("quotes, status, votes", [
    ([ex("a", 100.0), ex("b", 100.01), ex("c", 100.02)], "ok", 3),
    ([ex("a", 100.0), ex("b", 100.01)], "degraded", 2),
    ([ex("a", 100.0)], "single_source", 1),
])
def test_quorum_status(quotes, status, votes):
    c = cons.consensus(quotes, None)
    assert (c.status, c.votes) == (status, votes)


def test_age_cutoffs_per_kind_and_the_stale_status():
    c = cons.consensus([ex("a", 100.0, age=61), ex("b", 100.1, age=59),
                        agg("g", 100.05, age=100), agg("h", 100.0, age=121)], None)
    assert c.sources == ("b", "g") and c.status == "degraded"
    assert c.excluded == {"a": "stale: 61 s old (max 60 s)", "h": "stale: 121 s old (max 120 s)"}
    old = cons.consensus([ex("a", 100.0, age=300), ex("b", 102.0, age=90)], None)
    assert old.status == "stale" and old.price == 101.0 and old.votes == 0
    assert old.confidence is None and old.spread_bps is None
    assert cons.consensus([], None).price is None


def test_pyth_confidence_and_spread():
    c = cons.consensus([ex("a", 100.0), ex("b", 101.0), ex("c", 102.0)], None)
    # votes a-1bp, a, a+1bp, b..., c...: p25 = 100.01, p50 = 101, p75 = 101.9898
    assert c.confidence == pytest.approx(0.99)
    assert c.spread_bps == pytest.approx(2.0 / 101.0 * 1e4)
    single = cons.consensus([ex("a", 100.0)], None)
    assert single.confidence == pytest.approx(0.005) and single.spread_bps == 0


def test_usdt_quotes_convert_at_the_given_rate_and_a_depeg_is_flagged():
    quotes = [ex("binance", 103.0, ccy="USDT"), ex("kraken", 100.0), ex("coinbase", 99.95)]
    c = cons.consensus(quotes, 0.97)
    assert c.excluded == {} and c.usdt_usd == 0.97 and c.usdt_depeg
    assert c.price == pytest.approx(99.95)          # 103 USDT = 99.91 USD; the median is coinbase
    at_par = cons.consensus(quotes, 1.0)              # what assuming 1.0 would do
    assert "binance" in at_par.excluded
    none = cons.consensus(quotes, None)
    assert none.excluded == {"binance": "quoted in USDT and the book has no USDT/USD rate"}
    assert not cons.consensus(quotes, 0.996).usdt_depeg


def test_check_against_the_others():
    others = [ex("a", 100.0), ex("b", 100.01)]
    bad = cons.check(ex("liar", 105.0), others, None)
    assert bad.ok is False and bad.reason == "5.0 % above the median of 2 venues"
    assert bad.deviation_bps == pytest.approx(499.475, abs=0.01)
    assert cons.check(ex("good", 100.02), others, None).ok is True
    one = cons.check(ex("x", 100.0), [ex("a", 100.0)], None)
    assert one.ok is None and "1 other fresh vote" in one.reason
    # a fellow aggregator is not a second opinion on an aggregator
    assert cons.check(agg("g", 100.0), [ex("a", 100.0), agg("h", 100.0)], None).ok is None
    # a stale other does not count
    assert cons.check(ex("x", 100.0), [ex("a", 100.0), ex("b", 100.0, age=90)], None).ok is None


def test_votes_of_counts_aggregators_once():
    assert cons.votes_of([ex("a", 1), agg("g", 1), agg("h", 1)]) == 2
    assert cons.votes_of([]) == 0
