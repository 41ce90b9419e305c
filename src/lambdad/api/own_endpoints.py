"""lambdad's own endpoints under /_lambdad/: health, code downloads, accounts administration."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from lambdad import __version__
from lambdad.api import code_links
from lambdad.api.base import ApiRequest, ApiResponse, json_error
from lambdad.api.code_links import CodeLinks
from lambdad.errors import AccessDeniedException, ApiError, UnknownOperationException
from lambdad.services.iam.identities import Iam

log = logging.getLogger("lambdad.api")

Authenticate = Callable[[ApiRequest], str]


class OwnEndpoints:
    def __init__(self, statistics: Callable[[], dict[str, Any]], code_links: CodeLinks, iam: Iam,
                 account_id: str, prometheus: Callable[[], str] | None = None) -> None:
        self.statistics = statistics
        self.prometheus = prometheus  # GET /metrics: the text exposition format (api/prometheus.py)
        self.code_links = code_links
        self.iam = iam
        self.account_id = account_id

    async def handle(self, request: ApiRequest, authenticate: Authenticate) -> ApiResponse:
        path = request.path
        if path in ("/metrics", "/_lambdad/metrics") and self.prometheus is not None:
            # Open as the health endpoint is: what an operator's scraper reads, figures only.
            return ApiResponse(200, self.prometheus().encode(),
                               [(b"content-type", b"text/plain; version=0.0.4; charset=utf-8")])
        if path == "/_lambdad/health":
            return ApiResponse.json({"status": "ok", "version": __version__, **self.statistics()})
        if path.startswith(code_links.PATH_PREFIX):  # signed, expiring code links (api/code_links.py)
            return self.code_links.respond(path, request.query, request.request_id)
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
