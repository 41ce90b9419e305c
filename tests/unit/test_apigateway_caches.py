"""Time-dependent parts of API Gateway on a FakeClock: the authorizer result cache's TTL, the JWKS
cache's refetch, and the token buckets of stage throttles."""

from __future__ import annotations

import asyncio
import json

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from lambdad.clock import FakeClock
from lambdad.frontdoors.apigw_auth import DecisionCache, JwksCache, LambdaDecision
from lambdad.services.apigateway.throttling import Throttles


def test_decision_cache_expires_after_ttl() -> None:
    clock = FakeClock()
    cache = DecisionCache(clock)
    decision = LambdaDecision(True, None, None, {})
    cache.put(("api/auth", "token"), 300, decision)
    cache.put(("api/auth", "other"), 0, decision)  # TTL 0: not cached
    assert cache.get(("api/auth", "token")) is decision and cache.get(("api/auth", "other")) is None
    asyncio.run(clock.advance(299))
    assert cache.get(("api/auth", "token")) is decision
    asyncio.run(clock.advance(1))
    assert cache.get(("api/auth", "token")) is None


def test_jwks_is_fetched_once_per_ttl_and_again_for_an_unknown_kid() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    fetched: list[str] = []

    def fetch(url: str) -> bytes:
        fetched.append(url)
        if url.endswith("openid-configuration"):
            return json.dumps({"jwks_uri": "https://issuer.example/keys"}).encode()
        return json.dumps({"keys": [{**jwk, "kid": "k1"}]}).encode()

    clock = FakeClock()
    keys = JwksCache(clock, fetch)

    async def run() -> None:
        await keys.key("https://issuer.example", "k1")
        await keys.key("https://issuer.example", "k1")
        assert len(fetched) == 2  # discovery + keys, once
        await clock.advance(301)
        await keys.key("https://issuer.example", "k1")
        assert len(fetched) == 4
        try:
            await keys.key("https://issuer.example", "rotated")
        except Exception as exc:  # Unauthorized after one more look
            assert type(exc).__name__ == "Unauthorized"
        assert len(fetched) == 6

    asyncio.run(run())


def test_token_bucket() -> None:
    throttles = Throttles()
    assert [throttles.allow(("r",), 1.0, 2, 0.0) for _ in range(3)] == [True, True, False]
    assert throttles.allow(("r",), 1.0, 2, 1.0) is True  # one token back after a second
    assert throttles.allow(("r",), 1.0, 2, 1.0) is False
    assert throttles.allow(("zero",), 0.0, 0, 0.0) is False
