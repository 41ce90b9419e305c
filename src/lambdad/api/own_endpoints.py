"""lambdad's own endpoints under /_lambdad/: health, code downloads, accounts administration."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Callable
from typing import Any

from lambdad import __version__
from lambdad.api.base import ApiRequest, ApiResponse, json_error
from lambdad.errors import AccessDeniedException, ApiError, UnknownOperationException
from lambdad.services.iam.identities import Iam
from lambdad.store import BlobStore

log = logging.getLogger("lambdad.api")

Authenticate = Callable[[ApiRequest], str]


class CodeLinks:
    """Download links for stored zips (function code, layer content), signed for this server."""

    def __init__(self, blobs: BlobStore, secret: bytes, public_url: str) -> None:
        self.blobs = blobs
        self._secret = secret
        self.public_url = public_url

    def url(self, digest: str) -> str:
        return f"{self.public_url}/_lambdad/code/{digest}.zip?token={self._token(digest)}"

    def _token(self, digest: str) -> str:
        return hmac.new(self._secret, digest.encode(), hashlib.sha256).hexdigest()[:32]

    def serve(self, request: ApiRequest) -> ApiResponse:
        digest = request.path[len("/_lambdad/code/"):-4]
        token = request.query.get("token", [""])[0]
        if not hmac.compare_digest(token, self._token(digest)) or not self.blobs.zip_path(digest).exists():
            return ApiResponse(403, b"Access Denied", [(b"content-type", b"text/plain")])
        return ApiResponse(200, self.blobs.read_zip(digest), [(b"content-type", b"application/zip")])


class OwnEndpoints:
    def __init__(self, statistics: Callable[[], dict[str, Any]], code_links: CodeLinks, iam: Iam,
                 account_id: str) -> None:
        self.statistics = statistics
        self.code_links = code_links
        self.iam = iam
        self.account_id = account_id

    async def handle(self, request: ApiRequest, authenticate: Authenticate) -> ApiResponse:
        path = request.path
        if path == "/_lambdad/health":
            return ApiResponse.json({"status": "ok", "version": __version__, **self.statistics()})
        if path.startswith("/_lambdad/code/") and path.endswith(".zip"):
            return self.code_links.serve(request)
        if path == "/_lambdad/accounts":
            return self._accounts(request, authenticate)
        return ApiResponse(404, json.dumps({"message": "Not Found"}).encode(),
                           [(b"content-type", b"application/json")])

    def _accounts(self, request: ApiRequest, authenticate: Authenticate) -> ApiResponse:
        """Accounts administration (`lambdad account`): only the configured account's root may use it.
        GET lists accounts; POST {"Name": ...} creates one and answers its root keys (shown once)."""
        try:
            authenticate(request)
            principal = request.principal
            if principal is None or not principal.is_root or principal.account != self.account_id:
                raise AccessDeniedException("Only the root user of the server's own account may manage accounts.")
            if request.method == "GET":
                return ApiResponse.json({"Accounts": self.iam.list_accounts()})
            if request.method != "POST":
                raise UnknownOperationException("Use GET or POST.")
            body = request.json()
            account, key_id, secret = self.iam.create_account(body.get("Name") if isinstance(body, dict) else None)
            log.info("account %s created by %s", account, principal.arn)
            return ApiResponse.json({"AccountId": account, "Name": body["Name"], "AccessKeyId": key_id,
                                     "SecretAccessKey": secret})
        except ValueError:
            return json_error(ApiError("The body must be JSON."), request.request_id)
        except ApiError as exc:
            return json_error(exc, request.request_id)
