"""Authentication: the one place a SigV4-signed request becomes a Principal.

The API port and AWS_IAM function URLs both use `Authenticator.authenticate`; each front end words
the refusal in its own protocol (the SigV4Error carries AWS's code, message and status).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from lambdad.auth import sigv4
from lambdad.auth.credentials import Credential, CredentialStore
from lambdad.auth.principal import Principal


def principal_of(cred: Credential) -> Principal:
    return Principal(cred.account, cred.principal_arn, cred.access_key_id, cred.is_root, cred.session_token,
                     cred.user_name, cred.role_name, cred.principal_id, cred.session_policies)


class Authenticator:
    def __init__(self, credentials: CredentialStore, *, enabled: bool, account_id: str) -> None:
        self.credentials = credentials
        self.enabled = enabled  # off only for loopback development (`--auth false`): everyone is root
        self.account_id = account_id
        self._anonymous_root = Principal.account_root(account_id)

    def authenticate(self, method: str, raw_path: str, raw_query: str, query: Mapping[str, list[str]],
                     headers: Mapping[str, str], body: bytes) -> tuple[sigv4.SignedRequestInfo | None, Principal]:
        """(what the signature's scope says, who signed), or SigV4Error. `query` is `raw_query` decoded."""
        if not self.enabled:
            return sigv4.parse_scope(headers, query), self._anonymous_root
        found: list[Credential] = []
        info = sigv4.verify(method, raw_path, raw_query, headers, body, self._secret_keeping(found))
        return info, self._principal(info, found)

    def begin(self, method: str, raw_path: str, raw_query: str, headers: Mapping[str, str]) -> PendingAuthentication:
        """Check what the headers alone can prove, before any of the body is read (SigV4Error if that
        fails); `signature.finish(body_hash)` completes it, then `principal_for` says who signed."""
        found: list[Credential] = []
        pending = sigv4.begin(method, raw_path, raw_query, headers, self._secret_keeping(found))
        return PendingAuthentication(pending, found)

    def principal_for(self, pending: PendingAuthentication, info: sigv4.SignedRequestInfo) -> Principal:
        """Who signed a verified request (SigV4Error if its session token does not hold)."""
        return self._principal(info, pending.credential)

    def _secret_keeping(self, found: list[Credential]) -> Callable[[str], str | None]:
        """The secret lookup SigV4 verification makes, keeping the credential it found: one lookup per
        request."""
        def secret_for(access_key_id: str) -> str | None:
            cred = self.credentials.lookup(access_key_id)
            if cred is None:
                return None
            found.append(cred)
            return cred.secret_access_key
        return secret_for

    @staticmethod
    def _principal(info: sigv4.SignedRequestInfo, found: list[Credential]) -> Principal:
        cred = found[0] if found else None
        if cred is None or (cred.session_token is not None and info.session_token != cred.session_token):
            raise sigv4.SigV4Error("UnrecognizedClientException",
                                   "The security token included in the request is invalid.")
        return principal_of(cred)


@dataclass(slots=True)
class PendingAuthentication:
    """A signature checked as far as the headers go, and the credential it was checked with."""

    signature: sigv4.PendingSignature
    credential: list[Credential]
