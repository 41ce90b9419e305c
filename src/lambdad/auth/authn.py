"""Authentication: the one place a SigV4-signed request becomes a Principal.

The API port and AWS_IAM function URLs both use `Authenticator.authenticate`; each front end words
the refusal in its own protocol (the SigV4Error carries AWS's code, message and status).
"""

from __future__ import annotations

from collections.abc import Mapping

from lambdad.auth import sigv4
from lambdad.auth.credentials import Credential, CredentialStore
from lambdad.auth.principal import Principal


def principal_of(cred: Credential) -> Principal:
    return Principal(cred.account, cred.principal_arn, cred.access_key_id, cred.is_root, cred.session_token,
                     cred.user_name, cred.role_name, cred.principal_id)


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
        info = sigv4.verify(method, raw_path, raw_query, headers, body, self.credentials.secret_for)
        return info, self.principal_for(info)

    def begin(self, method: str, raw_path: str, raw_query: str,
              headers: Mapping[str, str]) -> sigv4.PendingSignature:
        """Check what the headers alone can prove, before any of the body is read (SigV4Error if that
        fails); `finish(body_hash)` on the result completes it, then `principal_for` says who signed."""
        return sigv4.begin(method, raw_path, raw_query, headers, self.credentials.secret_for)

    def principal_for(self, info: sigv4.SignedRequestInfo) -> Principal:
        """Who signed a verified request (SigV4Error if the key or its session token no longer holds)."""
        cred = self.credentials.lookup(info.access_key_id)
        if cred is None:  # revoked between the signature check and now
            raise sigv4.SigV4Error("UnrecognizedClientException",
                                   "The security token included in the request is invalid.")
        if cred.session_token is not None and info.session_token != cred.session_token:
            raise sigv4.SigV4Error("UnrecognizedClientException",
                                   "The security token included in the request is invalid.")
        return principal_of(cred)

