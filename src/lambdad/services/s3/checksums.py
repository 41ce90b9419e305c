"""S3's flexible checksums (CRC32, CRC32C, CRC64NVME, SHA1, SHA256) and the MD5 behind ETags.

Each is computed incrementally as an object streams in; S3 shows them base64-encoded (big-endian for
the CRCs). CRC32C comes from google-crc32c (C). CRC64NVME is table-driven Python here: awscrt has it
in C, but installing awscrt makes botocore sign every request with the CRT's signer instead of its own
(in the server's process and in every client's), so it is not a dependency.
"""

from __future__ import annotations

import base64
import hashlib
import zlib
from typing import Protocol

import google_crc32c

ALGORITHMS = ("CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256")


class Hasher(Protocol):
    def update(self, data: bytes) -> None: ...

    def b64(self) -> str: ...


class _Crc:
    def __init__(self, name: str) -> None:
        self.name = name
        self.value = 0
        self.width = 8 if name == "CRC64NVME" else 4

    def update(self, data: bytes) -> None:
        if self.name == "CRC32":
            self.value = zlib.crc32(data, self.value)
        elif self.name == "CRC32C":
            self.value = google_crc32c.extend(self.value, data)
        else:
            self.value = crc64nvme(data, self.value)

    def b64(self) -> str:
        return base64.b64encode(self.value.to_bytes(self.width, "big")).decode()


class _Sha:
    def __init__(self, name: str) -> None:
        self.h = hashlib.new(name.lower())

    def update(self, data: bytes) -> None:
        self.h.update(data)

    def b64(self) -> str:
        return base64.b64encode(self.h.digest()).decode()


def _crc64_table() -> list[int]:
    poly = 0x9A6C9329AC4BC9B5  # the NVMe polynomial, reflected
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ poly if crc & 1 else crc >> 1
        table.append(crc)
    return table


_CRC64 = _crc64_table()
_MASK64 = 0xFFFFFFFFFFFFFFFF


def crc64nvme(data: bytes, previous: int = 0) -> int:
    """CRC-64/NVME of `data`, continuing from the finished value `previous`."""
    crc = previous ^ _MASK64
    table = _CRC64
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ _MASK64


def hasher(algorithm: str) -> Hasher:
    """A running checksum of one of ALGORITHMS (upper case)."""
    return _Crc(algorithm) if algorithm.startswith("CRC") else _Sha(algorithm)


def of_parts(algorithm: str, part_checksums: list[str]) -> str:
    """The checksum of a multipart object: the checksum of its parts' checksums, `-N` (S3 User Guide,
    "Checking object integrity": composite checksums)."""
    h = hasher(algorithm)
    for value in part_checksums:
        h.update(base64.b64decode(value))
    return f"{h.b64()}-{len(part_checksums)}"


def header_name(algorithm: str) -> str:
    return f"x-amz-checksum-{algorithm.lower()}"
