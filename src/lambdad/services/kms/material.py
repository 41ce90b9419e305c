"""Key material and what it does: symmetric ciphertext blobs, RSA/ECC encryption and signatures.

No storage and no policy here. A symmetric ciphertext blob is opaque to callers and authenticated:

    b"\\x01" | key id (36 ASCII bytes) | material version (4 bytes, big-endian) | nonce (12) | AES-GCM
    ciphertext + tag

The header and the canonical encryption context are the AES-GCM associated data, so changing any
byte of the blob, using it with another context, or presenting it as another key's blob fails to
open (InvalidCiphertextException). The key id in the header is how Decrypt finds the key without
a KeyId, as KMS does. Asymmetric ciphertexts are the raw RSAES-OAEP output, as KMS's are (Decrypt
then needs the KeyId).
"""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Mapping
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, hmac, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from lambdad.errors import LambdadError

VERSION = 1
KEY_ID_BYTES = 36
_HEADER = struct.Struct(">B36sI")
NONCE = 12
TAG = 16

SYMMETRIC = "SYMMETRIC_DEFAULT"
RSA_SPECS = {"RSA_2048": 2048, "RSA_3072": 3072, "RSA_4096": 4096}
ECC_SPECS: dict[str, ec.EllipticCurve] = {
    "ECC_NIST_P256": ec.SECP256R1(), "ECC_NIST_P384": ec.SECP384R1(), "ECC_NIST_P521": ec.SECP521R1(),
    "ECC_SECG_P256K1": ec.SECP256K1(),
}
_HASHES: dict[str, type[hashes.HashAlgorithm]] = {"256": hashes.SHA256, "384": hashes.SHA384,
                                                   "512": hashes.SHA512}
# The signing algorithms each key spec supports, as KMS lists them in KeyMetadata.
RSA_SIGNING = ["RSASSA_PKCS1_V1_5_SHA_256", "RSASSA_PKCS1_V1_5_SHA_384", "RSASSA_PKCS1_V1_5_SHA_512",
               "RSASSA_PSS_SHA_256", "RSASSA_PSS_SHA_384", "RSASSA_PSS_SHA_512"]
ECC_SIGNING = {"ECC_NIST_P256": ["ECDSA_SHA_256"], "ECC_NIST_P384": ["ECDSA_SHA_384"],
               "ECC_NIST_P521": ["ECDSA_SHA_512"], "ECC_SECG_P256K1": ["ECDSA_SHA_256"]}
RSA_ENCRYPTION = ["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"]
# HMAC keys: key spec -> (key bytes, the one MAC algorithm it computes)
HMAC_SPECS = {"HMAC_224": (28, "HMAC_SHA_224"), "HMAC_256": (32, "HMAC_SHA_256"), "HMAC_384": (48, "HMAC_SHA_384"),
              "HMAC_512": (64, "HMAC_SHA_512")}
_HASHES_BY_BITS: dict[str, type[hashes.HashAlgorithm]] = {"224": hashes.SHA224, "256": hashes.SHA256,
                                                          "384": hashes.SHA384, "512": hashes.SHA512}
# The largest plaintext RSAES-OAEP takes, by key size and hash (KMS's documented limits).
RSA_PLAINTEXT_LIMITS = {("RSA_2048", "RSAES_OAEP_SHA_1"): 214, ("RSA_2048", "RSAES_OAEP_SHA_256"): 190,
                        ("RSA_3072", "RSAES_OAEP_SHA_1"): 342, ("RSA_3072", "RSAES_OAEP_SHA_256"): 318,
                        ("RSA_4096", "RSAES_OAEP_SHA_1"): 470, ("RSA_4096", "RSAES_OAEP_SHA_256"): 446}


class BadCiphertext(LambdadError):
    """The blob is not one of ours, was altered, or does not open with this key and context."""


def canonical_context(context: Mapping[str, str] | None) -> bytes:
    """The encryption context as associated data: order-independent, as KMS treats it."""
    if not context:
        return b""
    return json.dumps(dict(sorted(context.items())), separators=(",", ":"), ensure_ascii=False).encode()


def generate(spec: str) -> bytes:
    """New key material: 32 random bytes, or a private key in PKCS#8 DER."""
    if spec == SYMMETRIC:
        return AESGCM.generate_key(256)
    if spec in HMAC_SPECS:
        return os.urandom(HMAC_SPECS[spec][0])
    private: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
    if spec in RSA_SPECS:
        private = rsa.generate_private_key(65537, RSA_SPECS[spec])
    else:
        private = ec.generate_private_key(ECC_SPECS[spec])
    return private.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption())


@dataclass(frozen=True, slots=True)
class BlobHeader:
    key_id: str
    material_version: int


def peek(blob: bytes) -> BlobHeader:
    """Which key (and which of its material versions) a symmetric blob claims to be for."""
    if len(blob) < _HEADER.size + NONCE + TAG:
        raise BadCiphertext
    version, key_id, material = _HEADER.unpack_from(blob)
    if version != VERSION:
        raise BadCiphertext
    try:
        return BlobHeader(key_id.decode("ascii"), material)
    except UnicodeDecodeError:
        raise BadCiphertext from None


def seal(key: bytes, key_id: str, material_version: int, plaintext: bytes,
         context: Mapping[str, str] | None) -> bytes:
    header = _HEADER.pack(VERSION, key_id.encode("ascii"), material_version)
    nonce = os.urandom(NONCE)
    return header + nonce + AESGCM(key).encrypt(nonce, plaintext, header + canonical_context(context))


def open_blob(key: bytes, blob: bytes, context: Mapping[str, str] | None) -> bytes:
    header, nonce, sealed = blob[:_HEADER.size], blob[_HEADER.size:_HEADER.size + NONCE], blob[_HEADER.size + NONCE:]
    try:
        return AESGCM(key).decrypt(nonce, sealed, header + canonical_context(context))
    except InvalidTag:
        raise BadCiphertext from None


def _private(material: bytes) -> rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey:
    key = serialization.load_der_private_key(material, None)
    assert isinstance(key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey))
    return key


def public_key_der(material: bytes) -> bytes:
    """The SubjectPublicKeyInfo (DER) GetPublicKey returns."""
    return _private(material).public_key().public_bytes(serialization.Encoding.DER,
                                                        serialization.PublicFormat.SubjectPublicKeyInfo)


def _oaep(algorithm: str) -> padding.OAEP:
    digest: hashes.HashAlgorithm = hashes.SHA1() if algorithm == "RSAES_OAEP_SHA_1" else hashes.SHA256()
    return padding.OAEP(mgf=padding.MGF1(digest), algorithm=digest, label=None)


def rsa_encrypt(material: bytes, algorithm: str, plaintext: bytes) -> bytes:
    private = _private(material)
    assert isinstance(private, rsa.RSAPrivateKey)
    return private.public_key().encrypt(plaintext, _oaep(algorithm))


def rsa_decrypt(material: bytes, algorithm: str, ciphertext: bytes) -> bytes:
    private = _private(material)
    assert isinstance(private, rsa.RSAPrivateKey)
    try:
        return private.decrypt(ciphertext, _oaep(algorithm))
    except ValueError:
        raise BadCiphertext from None


def _hash_of(algorithm: str) -> hashes.HashAlgorithm:
    return _HASHES[algorithm.rsplit("_", 1)[1]]()


def digest_length(algorithm: str) -> int:
    return _hash_of(algorithm).digest_size


def sign(material: bytes, algorithm: str, message: bytes, prehashed: bool) -> bytes:
    private = _private(material)
    digest = _hash_of(algorithm)
    chosen: hashes.HashAlgorithm | Prehashed = Prehashed(digest) if prehashed else digest
    if isinstance(private, rsa.RSAPrivateKey):
        pad: padding.AsymmetricPadding = (
            padding.PSS(mgf=padding.MGF1(digest), salt_length=digest.digest_size)
            if "PSS" in algorithm else padding.PKCS1v15())
        return private.sign(message, pad, chosen)
    return private.sign(message, ec.ECDSA(chosen))


def mac(material: bytes, algorithm: str, message: bytes) -> bytes:
    h = hmac.HMAC(material, _HASHES_BY_BITS[algorithm.rsplit("_", 1)[1]]())
    h.update(message)
    return h.finalize()


def verify(material: bytes, algorithm: str, message: bytes, prehashed: bool, signature: bytes) -> bool:
    public = _private(material).public_key()
    digest = _hash_of(algorithm)
    chosen: hashes.HashAlgorithm | Prehashed = Prehashed(digest) if prehashed else digest
    try:
        if isinstance(public, rsa.RSAPublicKey):
            pad: padding.AsymmetricPadding = (
                padding.PSS(mgf=padding.MGF1(digest), salt_length=digest.digest_size)
                if "PSS" in algorithm else padding.PKCS1v15())
            public.verify(signature, message, pad, chosen)
        else:
            public.verify(signature, message, ec.ECDSA(chosen))
    except (InvalidSignature, ValueError):
        return False
    return True
