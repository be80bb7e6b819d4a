"""Message, Delivery and the JSON helpers (no broker needed)."""

from __future__ import annotations

import pytest

import weir


def test_str_inputs_are_utf8_and_bytes_like_are_bytes():
    m = weir.Message("héllo", key="k", headers=[("h", "ü"), ("raw", bytearray(b"\x00\x01"))])
    assert m.value == "héllo".encode() and m.key == b"k"
    assert m.headers == [("h", "ü".encode()), ("raw", b"\x00\x01")]
    assert weir.Message(memoryview(b"mv")).value == b"mv"
    assert weir.Message().value is None and weir.Message().headers == []


def test_headers_keep_order_repeats_and_nulls():
    m = weir.Message(b"v", headers=[("a", b"1"), ("b", None), ("a", b"3")])
    assert m.header("a") == b"3", "last one wins"
    assert m.header_values("a") == [b"1", b"3"]
    assert m.header("b") is None and m.header("missing") is None
    assert weir.Message(b"v", headers={"x": "1", "y": None}).headers == [("x", b"1"), ("y", None)]


def test_bad_inputs_raise_type_error():
    with pytest.raises(TypeError):
        weir.Message(12)
    with pytest.raises(TypeError):
        weir.Message(b"v", key=1.5)
    with pytest.raises(TypeError):
        weir.Message(b"v", headers=[("a", b"1", b"extra")])
    with pytest.raises(TypeError):
        weir.Message(b"v", headers=[(1, b"x")])


def test_json_helpers():
    m = weir.Message.from_json({"id": 7, "name": "ü"}, key="k", headers=[("src", "web")])
    assert m.json() == {"id": 7, "name": "ü"}
    assert m.key == b"k"
    assert m.headers == [("src", b"web"), ("content-type", b"application/json")]
    assert m.value_str() == '{"id":7,"name":"ü"}'
    assert m.key_str() == "k"
    own = weir.Message.from_json([1], headers=[("content-type", "application/x+json")])
    assert own.header_values("content-type") == [b"application/x+json"]
    with pytest.raises(weir.PayloadError):
        weir.Message(b"not json").json()
    with pytest.raises(weir.PayloadError):
        weir.Message().json()
    assert weir.Message(b"\xff").value_str() is None
    assert isinstance(weir.PayloadError("x"), ValueError)


def test_delivery_and_message_equality():
    assert weir.Delivery("t", 0, 5) == weir.Delivery("t", 0, 5)
    assert weir.Message(b"a", key="k") == weir.Message(b"a", key=b"k")


def test_error_hierarchy():
    assert issubclass(weir.TimeoutError, weir.WeirError)
    assert issubclass(weir.TimeoutError, TimeoutError)
    assert issubclass(weir.ConfigError, ValueError)
    assert issubclass(weir.UnknownPartitionError, weir.UnknownTopicError)
    e = weir.RejectedError("rejected", topic="t", reason="r", code="INVALID_RECORD")
    assert (e.topic, e.reason, e.code, e.retriable, str(e)) == ("t", "r", "INVALID_RECORD",
                                                                False, "rejected")


def test_context_and_bad_timeouts():
    ctx = weir.Context(timeout=5)
    assert 0 < ctx.remaining <= 5 and not ctx.cancelled
    ctx.cancel()
    assert ctx.cancelled
    assert weir.Context().remaining is None
    with pytest.raises(weir.ConfigError):
        weir.Context(timeout=-1)
