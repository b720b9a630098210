"""routing/consensus.py's small statistics and its exact outputs: medians, percentiles, capped
weights, weighted medians, volume weights and the no-USD-rate and stale answers, checked value by
value (test_consensus.py checks the recipe on realistic books). Part of the mutation test set."""
from __future__ import annotations

import pytest

from routing import consensus as cons
from routing.consensus import AGGREGATOR, EXCHANGE, VenueQuote


def ex(venue, price, age=1.0, volume=None, currency="USD"):
    return VenueQuote(venue, EXCHANGE, currency, price, age, volume)


def agg(venue, price, age=1.0):
    return VenueQuote(venue, AGGREGATOR, "USD", price, age)


def test_median_and_percentile():
    assert cons.median([3.0, 1.0, 2.0]) == 2.0
    assert cons.median([4.0, 1.0, 3.0, 2.0]) == 2.5
    assert cons.median([5.0, 1.0, 9.0, 7.0, 3.0, 11.0]) == 6.0
    assert cons.median([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]) == 4.0
    assert cons.percentile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.5
    assert cons.percentile([1.0, 2.0, 3.0, 4.0], 1.0) == 4.0
    assert cons.percentile([1.0, 2.0, 3.0, 10.0], 0.75) == pytest.approx(4.75)
    assert cons.percentile([1.0, 2.0, 3.0, 10.0, 20.0], 0.25) == 2.0
    assert cons.percentile([5.0], 0.9) == 5.0


def test_capped_weights():
    assert cons.capped_weights([5.0]) == [5.0]
    assert cons.capped_weights([0.5]) == [0.5]
    assert cons.capped_weights([-1.0, 0.5]) == [1.0, 1.0]       # 0.5 cut to 0: all equal
    assert cons.capped_weights([10.0, 1.0, 2.0]) == [3.0, 1.0, 2.0]
    assert cons.capped_weights([3.0, 1.0, 2.0]) == [3.0, 1.0, 2.0]      # exactly half: kept
    assert cons.capped_weights([1.0, 9.0]) == [1.0, 1.0]
    assert cons.capped_weights([0.5, 0.25]) == [0.25, 0.25]
    assert cons.capped_weights([0.0, 0.0, 0.0]) == [1.0, 1.0, 1.0]
    assert cons.capped_weights([-2.0, 0.0]) == [1.0, 1.0]
    assert cons.capped_weights([0.4, 0.3, 0.3]) == [0.4, 0.3, 0.3]


def test_weighted_median():
    assert cons.weighted_median([1.0, 2.0, 3.0], [1.0, 1.0, 1.0]) == 2.0
    assert cons.weighted_median([1.0, 2.0, 3.0, 4.0], [1.0, 1.0, 1.0, 1.0]) == 2.5
    assert cons.weighted_median([1.0, 2.0, 3.0], [1.0, 1.0, 5.0]) == 3.0
    assert cons.weighted_median([1.0, 2.0, 3.0], [0.2, 0.2, 0.2]) == 2.0
    assert cons.weighted_median([1.0, 2.0], [0.5, 0.5]) == 1.5
    assert cons.weighted_median([3.0, 1.0], [0.0, 0.0]) == 2.0
    assert cons.weighted_median([1.0, 2.0, 5.0], [0.3, 0.3, 0.0]) == 1.5
    assert cons.weighted_median([2.0, 1.0], [1.0, 0.0]) == 2.0


def test_describe():
    assert cons.describe(0.05, 6) == "5.0 % above the median of 6 venues"
    assert cons.describe(-0.123, 1) == "12.3 % below the median of 1 venue"
    assert cons.describe(0.0, 2) == "0.0 % below the median of 2 venues"


def test_votes_weigh_by_usd_volume_and_aggregators_share_one():
    votes = cons._votes([(ex("a", 100.0, volume=10.0), 100.0),
                         (ex("b", 200.0, volume=30.0, currency="USDT"), 202.0),
                         (ex("c", 100.0), 100.0), (agg("g1", 100.0), 100.0),
                         (agg("g2", 104.0), 104.0)])
    by = {v.name: v for v in votes}
    assert by["a"].weight == 10.0 and by["b"].weight == pytest.approx(30.3)
    assert by["c"].weight == pytest.approx((10.0 + 30.3) / 2)              # the typical one
    assert by["aggregators"].usd == 102.0 and by["aggregators"].weight == pytest.approx(20.15)
    assert by["aggregators"].kind == AGGREGATOR and by["a"].kind == EXCHANGE
    assert [q.venue for q in by["aggregators"].members] == ["g1", "g2"]
    assert by["a"].members == (ex("a", 100.0, volume=10.0),)
    plain = cons._votes([(ex("a", 1.0, volume=0.0), 1.0), (ex("b", 1.0, volume=0.5), 1.0)])
    assert [v.weight for v in plain] == [0.5, 0.5]
    none = cons._votes([(ex("a", 1.0), 1.0), (agg("g", 1.0), 1.0)])
    assert [v.weight for v in none] == [1.0, 1.0]


def test_heavier_volume_pulls_the_price():
    c = cons.consensus([ex("a", 100.0, volume=1.0), ex("b", 100.1, volume=5.0),
                        ex("c", 100.2, volume=1.0)], None)
    assert c.price == 100.1
    c = cons.consensus([ex("a", 100.0, volume=1.0), ex("b", 100.1, volume=1.0),
                        ex("c", 100.2, volume=9.0)], None)
    assert c.price == 100.15                          # capped at half: a tie at the boundary


def test_consensus_to_dict_every_field():
    c = cons.consensus([ex("a", 100.0), ex("b", 100.05, currency="USDT"), ex("c", 100.1)],
                       1.00012345678)
    assert c.to_dict() == {
        "price": 100.06235, "confidence": c.to_dict()["confidence"],
        "spread_bps": round(c.spread_bps, 2), "status": "ok", "sources": ["a", "b", "c"],
        "excluded": {}, "usdt_usd": 1.000123, "usdt_depeg": False,
        "band_bps": 25.0, "votes": 3, "max_age_s": {"exchange": 60.0, "aggregator": 120.0}}
    assert c.to_dict()["confidence"] == pytest.approx(0.052352, abs=1e-6)
    assert c.to_dict()["spread_bps"] != round(c.spread_bps, 3)
    empty = cons.Consensus(None, None, None, "stale", (), {}, None, False, None, 0)
    assert empty.to_dict() == {"price": None, "confidence": None, "spread_bps": None,
                               "status": "stale", "sources": [], "excluded": {},
                               "usdt_usd": None, "usdt_depeg": False, "band_bps": None,
                               "votes": 0, "max_age_s": {"exchange": 60.0, "aggregator": 120.0}}
    assert cons._round(1234.56789012) == 1234.5679 and cons._round(None) is None


def test_band_bps_and_usdt_rounding():
    c = cons.consensus([ex("a", 100.0), ex("b", 101.0), ex("c", 103.0)], 0.98765432109)
    d = c.to_dict()
    assert d["band_bps"] == round(c.band_bps, 2) and d["band_bps"] != round(c.band_bps, 3)
    assert d["usdt_usd"] == 0.987654 and d["usdt_depeg"] is True


def test_no_usd_rate_is_its_own_answer():
    c = cons.consensus([ex("t", 100.0, currency="USDT", age=60.0)], None,
                       max_age_s={"exchange": 60.0, "aggregator": 120.0})
    assert c == cons.Consensus(None, None, None, "no_usd_rate", (),
                               {"t": "quoted in USDT and the book has no USDT/USD rate"},
                               None, False, None, 0, {"exchange": 60.0, "aggregator": 120.0})
    odd = VenueQuote("o", "other", "USDT", 1.0, 59.0)        # an unknown kind ages as an exchange
    assert cons.consensus([odd], None).status == "no_usd_rate"
    older = VenueQuote("o", "other", "USDT", 1.0, 60.5)
    assert cons.consensus([older], None).status == "stale"


def test_stale_answer_is_the_median_of_the_last_quotes():
    quotes = [ex("a", 100.0, age=90.0), ex("b", 102.0, age=95.0),
              ex("t", 50.0, age=95.0, currency="USDT")]
    c = cons.consensus(quotes, 2.0)
    assert c == cons.Consensus(100.0, None, None, "stale", ("a", "b", "t"),
                               {"a": "stale: 90 s old (max 60 s)",
                                "b": "stale: 95 s old (max 60 s)",
                                "t": "stale: 95 s old (max 60 s)"},
                               2.0, True, None, 0, {"exchange": 60.0, "aggregator": 120.0})
    nothing = cons.consensus([ex("t", 50.0, age=95.0, currency="USDT")], None)
    assert nothing.price is None and nothing.sources == () and nothing.status == "stale"


def test_depeg_threshold_is_50_bps():
    quotes = [ex("a", 100.0)]
    assert not cons.consensus(quotes, 1.005).usdt_depeg
    assert cons.consensus(quotes, 1.00501).usdt_depeg
    assert cons.consensus(quotes, 0.99499).usdt_depeg


def test_check_of_an_aggregator_ignores_its_fellows():
    others = [agg("g2", 100.0), agg("g3", 100.0), ex("a", 110.0), ex("b", 110.1)]
    verdict = cons.check(agg("g1", 100.0), others, None)
    assert verdict.ok is False and verdict.others == 2
    assert verdict.reason == "9.1 % below the median of 2 venues"
    assert verdict.deviation_bps == pytest.approx(-913.22, abs=0.01)
    thin = cons.check(agg("g1", 100.0), [agg("g2", 100.0), ex("a", 100.0)], None)
    assert thin.ok is None and thin.reason == "cannot check: 1 other fresh vote(s), 2 needed"
    assert thin.others == 1
    assert cons.check(ex("t", 1.0, currency="USDT"), others, None).reason == \
        "quoted in USDT and the book has no USDT/USD rate"


def test_votes_of():
    assert cons.votes_of([ex("a", 1.0), agg("g", 1.0), agg("h", 1.0)]) == 2
    assert cons.votes_of([agg("g", 1.0)]) == 1 and cons.votes_of([]) == 0


def test_weighted_median_of_zero_weights_is_the_plain_median():
    assert cons.weighted_median([1.0, 2.0, 3.0], [0.0, 0.0, 0.0]) == 2.0


def test_a_quote_exactly_on_the_band_edge_is_kept():
    c = cons.consensus([ex("a", 100.0), ex("b", 100.0), ex("c", 100.25)], None)
    assert c.excluded == {} and c.sources == ("a", "b", "c")


def test_an_aggregator_without_a_usd_rate_ages_by_its_own_limit():
    q = VenueQuote("g", AGGREGATOR, "USDT", 1.0, 90.0)
    assert cons.consensus([q], None).status == "no_usd_rate"


def test_aggregators_vote_with_a_wider_confidence():
    c = cons.consensus([agg("g", 100.0)], None)
    assert c.status == "single_source" and c.confidence == pytest.approx(0.025)
    odd = cons.consensus([VenueQuote("o", "other", "USD", 100.0, 1.0)], None)
    assert odd.confidence == pytest.approx(0.005)        # an unknown kind counts as an exchange
