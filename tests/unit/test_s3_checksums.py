"""S3's flexible checksums against their published check values ("123456789")."""

from __future__ import annotations

import base64

from lambdad.services.s3 import checksums


def _value(algorithm: str, data: bytes, pieces: int = 1) -> str:
    h = checksums.hasher(algorithm)
    step = max(1, len(data) // pieces)
    for i in range(0, len(data), step):
        h.update(data[i:i + step])
    return h.b64()


def test_check_values_and_incremental_updates() -> None:
    data = b"123456789"
    expected = {"CRC32": 0xCBF43926.to_bytes(4, "big"), "CRC32C": 0xE3069283.to_bytes(4, "big"),
                "CRC64NVME": 0xAE8B14860A799888.to_bytes(8, "big")}
    for algorithm, value in expected.items():
        assert _value(algorithm, data) == base64.b64encode(value).decode()
        assert _value(algorithm, data, pieces=4) == base64.b64encode(value).decode()
    assert _value("SHA256", data) == "FeKw08M4keuw8e9gnsQZQgwg4yDOlMZfvIwzEkSOsiU="
