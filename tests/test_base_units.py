"""providers/base.py in isolation: the parsing helpers every provider module relies on, and the
shared status handling that turns HTTP answers into typed errors. No network: responses are
scripted with tests/fake_upstream.py. Part of the mutation test set (setup.cfg [mutmut])."""
from __future__ import annotations

from email.utils import formatdate

import pytest

from providers.base import (KIND_CANDLES, KIND_QUOTE, Banned, Candle, MalformedResponse,
                            NotConfigured, Provider, RateLimit, RateLimited, UnknownSymbol,
                            Unsupported, UpstreamError, UpstreamTimeout, ascending, candle_rows,
                            collect_quotes, ms_to_s, num, opt_num, parse_retry_after, pct_change,
                            price, usable)
from tests.fake_upstream import FakeHTTP, reply


class Venue(Provider):
    name = "venue"
    label = "Venue X"
    env_prefix = "VENUE_X"
    default_base_url = "https://api.venue.test/"
    rate_limit = RateLimit(10, 60, ban_s=777.0)
    symbols = {"BTC": "BTC-USD", "ETH": "ETH-USD"}
    intervals = {"1h": "60min", "1d": "1day"}
    capabilities = frozenset({KIND_QUOTE, KIND_CANDLES})


def venue(*responses) -> tuple[Venue, FakeHTTP]:
    http = FakeHTTP(*responses)
    return Venue(http), http


# -- numbers ------------------------------------------------------------------------------------

def test_num_reads_numbers_and_numeric_strings():
    assert num("42.5", "p", "price") == 42.5
    assert num(7, "p", "price") == 7.0
    assert num(0, "p", "price") == 0.0


@pytest.mark.parametrize("value, says", [
    (None, "price is missing"), (True, "price is missing"),
    ("abc", "price is not a number: 'abc'"), ([1], "price is not a number: '[1]'"),
    ("nan", "price is not finite: 'nan'"), (float("inf"), "price is not finite: inf"),
])
def test_num_refuses_what_is_not_a_finite_number(value, says):
    with pytest.raises(MalformedResponse) as e:
        num(value, "p", "price")
    assert e.value.provider == "p" and e.value.message == says


def test_num_cuts_a_long_bad_value_to_40_characters():
    with pytest.raises(MalformedResponse) as e:
        num("x" * 100, "p", "v")
    assert e.value.message == f"v is not a number: {'x' * 40!r}"


@pytest.mark.parametrize("value, expected", [
    ("1.5", 1.5), (3, 3.0), (0, 0.0), (None, None), (True, None), ("", None), ("abc", None),
    ({}, None), ("inf", None), (float("nan"), None),
])
def test_opt_num_is_a_float_or_none(value, expected):
    assert opt_num(value) == expected


def test_price_must_be_above_zero():
    assert price("0.0001", "p") == 0.0001
    with pytest.raises(MalformedResponse) as e:
        price("0", "p")
    assert e.value.message == "price is not positive: '0'"
    with pytest.raises(MalformedResponse) as e:
        price(-1, "p", "close")
    assert e.value.message == "close is not positive: -1"


def test_pct_change_in_percent_and_none_without_a_positive_open():
    assert pct_change(110.0, 100.0) == pytest.approx(10.0)
    assert pct_change(90.0, 100.0) == pytest.approx(-10.0)
    assert pct_change(5.0, None) is None
    assert pct_change(5.0, 0.0) is None
    assert pct_change(5.0, -2.0) is None


def test_ms_to_s():
    assert ms_to_s("1700000000123", "p") == pytest.approx(1700000000.123)
    with pytest.raises(MalformedResponse) as e:
        ms_to_s(None, "p")
    assert e.value.message == "timestamp is missing"


# -- lists and candles --------------------------------------------------------------------------

def candle(t: int, close: float = 1.0) -> Candle:
    return Candle(t, 1.0, 2.0, 0.5, close, 10.0)


def test_ascending_sorts_and_keeps_the_last_of_a_duplicate_open_time():
    out = ascending([candle(3), candle(1, 5.0), candle(2), candle(1, 9.0)])
    assert [c.timestamp for c in out] == [1, 2, 3]
    assert out[0].close == 9.0


def parse_int(item):
    if not isinstance(item, int):
        raise MalformedResponse("p", f"{item!r} is not an int")
    return item * 10


def test_usable_skips_bad_items_and_keeps_the_rest():
    assert usable([1, "x", 2], parse_int, "p", "rows") == [10, 20]


def test_usable_with_nothing_usable_names_the_count_and_the_first_error():
    with pytest.raises(MalformedResponse) as e:
        usable(["a", "b"], parse_int, "p", "rows")
    assert e.value.message == "rows: none of 2 items is usable (first: 'a' is not an int)"


def test_usable_empty_list_is_malformed_unless_allowed():
    with pytest.raises(MalformedResponse) as e:
        usable([], parse_int, "p", "rows")
    assert e.value.message == "rows: none of 0 items is usable"
    assert usable([], parse_int, "p", "rows", allow_empty=True) == []
    with pytest.raises(MalformedResponse):
        usable(["a"], parse_int, "p", "rows", allow_empty=True)


def test_collect_quotes_keys_by_ticker_and_skips_bad_items():
    def parse(item, ticker):
        return (ticker, price(item, "p"))
    out = collect_quotes([("BTC", "100"), ("ETH", "-1"), ("SOL", "5")], parse, "p")
    assert out == {"BTC": ("BTC", 100.0), "SOL": ("SOL", 5.0)}
    assert collect_quotes([], parse, "p") == {}


def test_candle_rows_reads_columns_in_the_providers_order_and_sorts():
    rows = [[2000, "10", "8", "12", "7", "3"], [1000, "9", "8.5", "11", "6", "4", "extra"]]
    out = candle_rows(rows, "p", "tochlv", time_ms=True)
    assert out == [Candle(1, 9.0, 11.0, 6.0, 8.5, 4.0), Candle(2, 10.0, 12.0, 7.0, 8.0, 3.0)]
    secs = candle_rows([[60, "1", "2", "3", "4", "5"]], "p", "tlhocv", time_ms=False)
    assert secs == [Candle(60, open=3.0, high=2.0, low=1.0, close=4.0, volume=5.0)]


def test_candle_rows_refuses_bad_shapes():
    with pytest.raises(MalformedResponse) as e:
        candle_rows({"a": 1}, "p", "tohlcv", time_ms=False)
    assert e.value.message == "candles answer is not an array"
    with pytest.raises(MalformedResponse) as e:
        candle_rows([[1, 2, 3]], "p", "tohlcv", time_ms=False)
    assert e.value.message == "candle row is not [t, o, h, l, c, v, ...]: [1, 2, 3]"
    with pytest.raises(MalformedResponse) as e:
        candle_rows([], "p", "tohlcv", time_ms=False)
    assert e.value.message == "candles answer holds no candles"
    with pytest.raises(MalformedResponse) as e:
        candle_rows([[1, "0", "1", "1", "1", "1"]], "p", "tohlcv", time_ms=False)
    assert e.value.message == "open is not positive: '0'"


# -- Retry-After --------------------------------------------------------------------------------

def test_retry_after_seconds_and_http_dates():
    assert parse_retry_after(" 30 ") == 30.0
    assert parse_retry_after("-5") == 0.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("") is None
    assert parse_retry_after("soon") is None
    now = 1_700_000_000.0
    assert parse_retry_after(formatdate(now + 120, usegmt=True), now=now) == pytest.approx(120)
    assert parse_retry_after(formatdate(now - 120, usegmt=True), now=now) == 0.0


# -- the Provider base ----------------------------------------------------------------------------

def test_base_url_comes_from_the_argument_then_the_environment_then_the_default(monkeypatch):
    monkeypatch.delenv("VENUE_X_BASE_URL", raising=False)
    assert Venue(None).base_url == "https://api.venue.test"
    monkeypatch.setenv("VENUE_X_BASE_URL", "http://127.0.0.1:9/")
    assert Venue(None).base_url == "http://127.0.0.1:9"
    assert Venue(None, base_url="http://h:1//").base_url == "http://h:1"
    assert repr(Venue(None, base_url="http://h:1")) == "<Venue venue http://h:1>"


def test_api_key_and_configured(monkeypatch):
    class Keyed(Venue):
        api_key_env = "VENUE_X_KEY"
        requires_key = True
    monkeypatch.delenv("VENUE_X_KEY", raising=False)
    assert Venue.api_key() is None and Venue.configured()
    assert Keyed.api_key() is None and not Keyed.configured()
    monkeypatch.setenv("VENUE_X_KEY", "k1")
    assert Keyed.api_key() == "k1" and Keyed.configured()
    monkeypatch.setenv("VENUE_X_KEY", "")
    assert not Keyed.configured()


def test_supports_lists_and_pairs():
    v = Venue(None)
    assert v.supports(KIND_QUOTE) and v.supports(KIND_CANDLES, "1h")
    assert not v.supports(KIND_CANDLES, "5m") and not v.supports("news")
    assert not v.supports("news", "1h")
    assert v.lists("btc") and not v.lists("DOGE")
    assert v.pair("eth") == "ETH-USD"
    with pytest.raises(UnknownSymbol) as e:
        v.pair("doge")
    assert e.value.message == "DOGE is not listed on Venue X"
    assert v.listed_pairs(["btc", "DOGE", "ETH"]) == {"BTC": "BTC-USD", "ETH": "ETH-USD"}
    assert v.interval("1d") == "1day"
    with pytest.raises(Unsupported) as e:
        v.interval("5m")
    assert e.value.message == "interval 5m is not offered by Venue X; it has 1h, 1d"


@pytest.mark.parametrize("method, args, what", [
    ("fetch_quote", ("BTC",), "single quotes"), ("fetch_quotes", (["BTC"],), "batch quotes"),
    ("fetch_candles", ("BTC", "1h", 5), "candles"), ("fetch_top", (5,), "top coins"),
    ("fetch_fear_greed", (), "fear & greed"), ("fetch_news", (None, 5), "news"),
])
def test_capabilities_not_overridden_are_unsupported(method, args, what):
    with pytest.raises(Unsupported) as e:
        getattr(Venue(None), method)(*args)
    assert e.value.message == what and e.value.provider == "venue"


def test_get_json_sends_our_headers_and_returns_the_body():
    v, http = venue(reply({"price": "1"}))
    assert v.get_json("/t", {"s": "BTC"}, kind="candles", weight=3,
                      headers={"X-K": "1"}, expire_after=9) == {"price": "1"}
    call = http.calls[0]
    assert call["url"] == "https://api.venue.test/t" and call["params"] == {"s": "BTC"}
    assert call["kind"] == "candles" and call["weight"] == 3
    assert call["headers"] == {"User-Agent": Venue.user_agent, "Accept": "application/json",
                               "X-K": "1"}


def test_an_empty_200_body_is_none():
    v, _ = venue(reply(text="", headers={"Content-Type": "application/json"}))
    assert v.get_json("/t") is None


def test_html_instead_of_json_is_malformed():
    v, _ = venue(reply(text="<html>busy</html>"))
    with pytest.raises(MalformedResponse) as e:
        v.get_json("/t")
    assert e.value.message == "expected JSON, got text/html; charset=UTF-8: '<html>busy</html>'"
    assert e.value.status == 200


@pytest.mark.parametrize("status, headers, body, error, message, retry", [
    (429, {"Retry-After": "12"}, {"msg": "slow down"}, RateLimited, "rate limited: slow down", 12.0),
    (429, {}, None, RateLimited, "rate limited: HTTP 429", None),
    (418, {}, {"msg": "banned"}, Banned, "IP banned: banned", 777.0),
    (418, {"Retry-After": "5"}, {}, Banned, "IP banned: HTTP 418", 5.0),
    (401, {}, {"message": "bad key"}, NotConfigured, "access refused: bad key", None),
    (402, {}, None, NotConfigured, "access refused: HTTP 402", None),
    (403, {}, None, NotConfigured, "access refused: HTTP 403", None),
    (451, {}, None, NotConfigured, "access refused: HTTP 451", None),
    (404, {}, {"error": "no pair"}, UnknownSymbol, "not found: no pair", None),
    (500, {}, {"error": ["a", "b"]}, UpstreamError, "a; b", None),
    (503, {}, None, UpstreamError, "HTTP 503", None),
])
def test_status_codes_become_typed_errors(status, headers, body, error, message, retry):
    v, _ = venue(reply(body, status=status, headers=headers))
    with pytest.raises(error) as e:
        v.get_json("/t")
    assert type(e.value) is error
    assert e.value.message == message and e.value.status == status
    if isinstance(e.value, RateLimited):
        assert e.value.retry_after == retry


def test_a_non_json_error_page_is_read_as_text():
    v, _ = venue(reply(text="<html><style>x{}</style><b>Bad</b> gateway</html>", status=502))
    with pytest.raises(UpstreamError) as e:
        v.get_json("/t")
    assert e.value.message == "HTML page: Bad gateway"


@pytest.mark.parametrize("body, text", [
    ({"msg": "m"}, "m"), ({"message": "m2"}, "m2"), ({"Message": "M"}, "M"),
    ({"error": "e"}, "e"), ({"retMsg": "r"}, "r"), ({"error_message": "em"}, "em"),
    ({"msg": "", "message": "second"}, "second"), ({"error": []}, ""),
    ({"error": ["x", 1]}, "x; 1"), ({"msg": "y" * 300}, "y" * 200),
    ({"status": {"error_message": "over"}}, "over"), ({"status": {"code": 1}}, "{'code': 1}"),
    ({"status": "bad"}, ""), ("plain words", "plain words"), ("  spaced  ", "spaced"),
    ("<p>hi</p>", "HTML page: hi"), ("<SCRIPT>evil()</SCRIPT>ok", "HTML page: ok"),
    ("z" * 200, "z" * 120), (None, ""), (["x"], ""),
])
def test_error_text(body, text):
    assert Provider.error_text(body) == text


def test_timeout_is_an_upstream_error_of_its_own_kind():
    assert issubclass(UpstreamTimeout, UpstreamError) and UpstreamTimeout.kind == "timeout"
    assert Banned.kind == "banned" and issubclass(Banned, RateLimited)
    err = RateLimited("p", "m", retry_after=3.0, status=429)
    assert str(err) == "p: m" and err.retry_after == 3.0 and err.status == 429


# -- every typed error names its provider and what was wrong --------------------------------------

def error_of(fn, *args, **kw) -> MalformedResponse:
    with pytest.raises(MalformedResponse) as e:
        fn(*args, **kw)
    return e.value


def test_errors_name_the_provider():
    assert error_of(price, "0", "prov").provider == "prov"
    assert error_of(price, None, "prov").message == "price is missing"
    assert error_of(ms_to_s, "x", "prov").provider == "prov"
    assert error_of(usable, ["a"], parse_int, "prov", "rows").provider == "prov"
    assert error_of(candle_rows, "x", "prov", "tohlcv", time_ms=False).provider == "prov"
    assert error_of(candle_rows, [[1]], "prov", "tohlcv", time_ms=False).provider == "prov"
    assert error_of(candle_rows, [], "prov", "tohlcv", time_ms=False).provider == "prov"
    with pytest.raises(UnknownSymbol) as e:
        Venue(None).pair("x")
    assert e.value.provider == "venue"
    with pytest.raises(Unsupported) as e:
        Venue(None).interval("1w")
    assert e.value.provider == "venue"


@pytest.mark.parametrize("row, says", [
    (["t", "1", "1", "1", "1", "1"], "candle time is not a number: 't'"),
    ([1, "1", "0", "1", "1", "1"], "high is not positive: '0'"),
    ([1, "1", "1", "0", "1", "1"], "low is not positive: '0'"),
    ([1, "1", "1", "1", "0", "1"], "close is not positive: '0'"),
    ([1, "1", "1", "1", "1", "v"], "volume is not a number: 'v'"),
])
def test_candle_rows_name_the_bad_column(row, says):
    e = error_of(candle_rows, [row], "prov", "tohlcv", time_ms=False)
    assert e.message == says and e.provider == "prov"


def test_collect_quotes_with_nothing_usable_names_the_batch():
    def parse(item, ticker):
        return price(item, "prov")
    e = error_of(collect_quotes, [("BTC", "0")], parse, "prov")
    assert e.provider == "prov"
    assert e.message == "batch quotes: none of 1 items is usable (first: price is not positive: '0')"


def test_pct_change_with_an_open_below_one():
    assert pct_change(1.0, 0.5) == pytest.approx(100.0)


def test_retry_after_date_without_now_uses_the_clock():
    import time
    assert parse_retry_after(formatdate(time.time() + 100, usegmt=True)) == pytest.approx(100, abs=5)


@pytest.mark.parametrize("status, error", [
    (429, RateLimited), (418, Banned), (401, NotConfigured), (404, UnknownSymbol),
    (500, UpstreamError)])
def test_status_errors_name_the_provider(status, error):
    v, _ = venue(reply({}, status=status))
    with pytest.raises(error) as e:
        v.get_json("/t")
    assert e.value.provider == "venue"


def test_decode_of_a_response_without_text_is_none():
    class Bare:
        status_code = 200
        headers = {}
    assert Venue(None).decode(Bare()) is None


def test_a_non_json_200_without_content_type_says_text_and_cuts_at_60():
    from tests.fake_upstream import FakeResponse
    with pytest.raises(MalformedResponse) as e:
        Venue(None).decode(FakeResponse(200, "<" + "x" * 100))
    assert e.value.provider == "venue"
    assert e.value.message == f"expected JSON, got text: {('<' + 'x' * 59)!r}"


def test_error_text_ignores_values_that_are_neither_text_nor_lists():
    assert Provider.error_text({"msg": 5, "message": {"a": 1}}) == ""
    assert Provider.error_text({"error": ["e" * 150, "f" * 150]}) == ("e" * 150 + "; " + "f" * 48)
    assert Provider.error_text({"status": {"error_message": "s" * 300}}) == "s" * 200


def test_get_json_defaults_and_body_check():
    seen = []

    class Checked(Venue):
        def check_body(self, body, resp):
            seen.append((body, resp.status_code))

    class Recording(FakeHTTP):
        def get(self, url, **kw):
            self.kw = kw
            return super().get(url, **kw)

    http = Recording(reply({"a": 1}))
    v = Checked(http)
    v.get_json("/t")
    assert http.kw["weight"] == 1 and http.kw["kind"] == KIND_QUOTE
    assert http.kw["expire_after"] is None and http.kw["params"] is None
    v.get_json("/t", expire_after=7)
    assert http.kw["expire_after"] == 7
    assert seen == [({"a": 1}, 200), ({"a": 1}, 200)]
