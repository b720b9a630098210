"""alternative.me Fear & Greed: string fields, the first entry only, and `metadata.error`."""
from __future__ import annotations

import copy

import pytest

from providers.alternative_me import AlternativeMe, parse_fear_greed
from providers.base import (KIND_FEAR_GREED, MalformedResponse, RateLimited, Unsupported,
                            UpstreamError)
from tests.fake_upstream import FakeHTTP, reply

# Copied from reference/provider-apis.md §11.
FNG = {"name": "Fear and Greed Index",
       "data": [{"value": "62", "value_classification": "Greed", "timestamp": "1788134400",
                 "time_until_update": "77614"},
                {"value": "69", "value_classification": "Greed", "timestamp": "1788048000"}],
       "metadata": {"error": None}}


def with_first(**fields) -> dict:
    body = copy.deepcopy(FNG)
    body["data"][0].update(fields)
    return body


def test_parse_string_fields():
    fg = parse_fear_greed(FNG)
    assert (fg.value, fg.classification, fg.timestamp) == (62, "Greed", 1788134400)
    assert fg.time_until_update_s == 77614 and fg.source == "alternative_me"


def test_time_until_update_is_optional():
    body = copy.deepcopy(FNG)
    del body["data"][0]["time_until_update"]
    assert parse_fear_greed(body).time_until_update_s is None


def test_classification_is_kept_as_given():
    assert parse_fear_greed(with_first(value="10", value_classification="Extreme Fear")) \
        .classification == "Extreme Fear"


def test_metadata_error_is_upstream_error():
    body = dict(FNG, data=[], metadata={"error": "Invalid limit parameter"})
    with pytest.raises(UpstreamError, match="Invalid limit"):
        parse_fear_greed(body)


@pytest.mark.parametrize("value", ["101", "-1", "abc", None, "", "55.5"])
def test_bad_value_is_malformed(value):
    with pytest.raises(MalformedResponse):
        parse_fear_greed(with_first(value=value))


@pytest.mark.parametrize("body", [
    {"name": "Fear and Greed Index", "data": [], "metadata": {"error": None}},
    {"metadata": {"error": None}},
    with_first(value_classification=None),
    with_first(timestamp="yesterday"),
    ["not", "an", "object"],
])
def test_malformed_bodies(body):
    with pytest.raises(MalformedResponse):
        parse_fear_greed(body)


def test_fetch_request_shape():
    http = FakeHTTP(reply(FNG))
    fg = AlternativeMe(http, base_url="http://fng.test").fetch_fear_greed()
    assert fg.value == 62
    assert http.calls == [{"url": "http://fng.test/fng/", "params": {"limit": 1},
                           "headers": http.calls[0]["headers"], "kind": KIND_FEAR_GREED,
                           "weight": 1}]


def test_fetch_status_errors():
    with pytest.raises(RateLimited):
        AlternativeMe(FakeHTTP(reply(text="Too Many Requests", status=429))).fetch_fear_greed()
    with pytest.raises(MalformedResponse):
        AlternativeMe(FakeHTTP(reply(text="<html>oops</html>"))).fetch_fear_greed()


def test_no_symbols_and_no_quotes(plain_http):
    fng = AlternativeMe(plain_http)
    assert AlternativeMe.symbols == {} and fng.capabilities == {"fear_greed"}
    with pytest.raises(Unsupported):
        fng.fetch_quote("BTC")
    assert plain_http.calls == []
