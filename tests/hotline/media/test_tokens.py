"""Stream tokens: bound to one call, expiring with it, and opening one stream only."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from redis import Redis

from hotline.media.tokens import (
    CALL_LIFETIME_SECONDS,
    MemoryUsedTokens,
    RedisUsedTokens,
    UsedTokens,
    check_token,
    stream_token,
)

pytestmark = pytest.mark.unit

KEY = "webhook-key"
CALL = "CA" + "1" * 32
NOW = 1_800_000_000.0


def test_a_token_is_good_for_its_call_until_it_expires() -> None:
    token = stream_token(KEY, CALL, now=NOW)
    assert check_token(KEY, CALL, token, NOW) == CALL_LIFETIME_SECONDS
    assert check_token(KEY, CALL, token, NOW + CALL_LIFETIME_SECONDS - 1) == 1
    assert check_token(KEY, CALL, token, NOW + CALL_LIFETIME_SECONDS) is None
    assert check_token(KEY, "CA" + "2" * 32, token, NOW) is None
    assert check_token("other-key", CALL, token, NOW) is None


def test_a_changed_expiry_or_a_malformed_token_is_refused() -> None:
    token = stream_token(KEY, CALL, now=NOW)
    expires, _, mac = token.partition(".")
    later = f"{int(expires) + 3600}.{mac}"
    assert check_token(KEY, CALL, later, NOW + CALL_LIFETIME_SECONDS) is None
    for bad in ("", "forged", ".", f"x.{mac}", "²." + mac, f"{expires}.", f"{expires}.{mac}.1"):
        assert check_token(KEY, CALL, bad, NOW) is None


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def used(request: pytest.FixtureRequest) -> Iterator[UsedTokens]:
    if request.param == "memory":
        yield MemoryUsedTokens()
        return
    url = os.environ.get("REDIS_URL")
    if not url:
        pytest.skip("needs REDIS_URL")
    redis = Redis.from_url(url)
    ledger = RedisUsedTokens(redis, prefix=f"test:stream-token:{uuid.uuid4().hex}")
    yield ledger
    for key in redis.scan_iter(f"{ledger.prefix}:*"):
        redis.delete(key)
    redis.close()


def test_a_token_is_claimed_once(used: UsedTokens) -> None:
    first, second = stream_token(KEY, CALL, now=NOW), stream_token(KEY, CALL, now=NOW + 1)
    assert used.claim(first, 60, NOW)
    assert not used.claim(first, 60, NOW)
    assert used.claim(second, 60, NOW)  # another token (a retried first step) is its own


def test_the_memory_ledger_forgets_a_token_once_it_has_expired() -> None:
    used = MemoryUsedTokens()
    assert used.claim("a", 10, NOW)
    assert used.claim("b", 100, NOW + 5)
    assert used.claim("c", 10, NOW + 20)  # prunes "a", keeps "b"
    assert set(used.expires) == {"b", "c"}
    assert not used.claim("b", 100, NOW + 20)
