"""`GET /` from a browser or curl: a short page saying what this is, instead of AWS's 403.

Only a plain unsigned `GET /` (or HEAD) without a query, from a client that is not an AWS SDK, gets
it: a signed `GET /` is S3's ListBuckets, an SDK's unsigned one still gets the service's own
refusal, and a bucket's virtual host (`<bucket>.s3.<region>.<host>`) stays S3's.
"""

from __future__ import annotations

import html

from lambdad import __version__
from lambdad.api.base import ApiRequest, ApiResponse

HEALTH_PATH = "/_lambdad/health"
DOCS_URL = "https://docs.aws.amazon.com/lambda/latest/api/welcome.html"
# User-Agent markers of the AWS SDKs and CLIs (botocore, the JS/Java/Go/.NET SDKs, both CLIs).
_SDK_AGENTS = ("boto", "aws-cli", "aws-sdk", "aws-chunked", "aws-internal")


def is_landing(request: ApiRequest) -> bool:
    if request.method not in ("GET", "HEAD") or request.raw_path != "/" or request.raw_query:
        return False
    headers = request.headers
    if "authorization" in headers or any(name.startswith("x-amz-") for name in headers):
        return False
    host = headers.get("host", "").split(":", 1)[0].lower()
    if ".s3." in host or host.startswith("s3."):
        return False
    agent = headers.get("user-agent", "").lower()
    return not any(marker in agent for marker in _SDK_AGENTS)


def page(request: ApiRequest, console_path: str | None) -> ApiResponse:
    """HTML for browsers (Accept: text/html), the same lines as text for everyone else."""
    console = (f'<a href="{html.escape(console_path)}">{html.escape(console_path)}</a>' if console_path
               else "not built yet")
    host = request.headers.get("host", "")
    base = f"http://{host}" if host and "/" not in host and " " not in host else ""
    if "text/html" in request.headers.get("accept", ""):
        body = (
            "<!doctype html><html><head><meta charset=\"utf-8\"><title>lambdad</title></head><body>"
            f"<h1>lambdad {html.escape(__version__)}</h1>"
            "<p>A self-hosted server speaking the AWS Lambda APIs (and S3, SQS, SNS, EventBridge, API Gateway, "
            "IAM, KMS, CloudWatch Logs and metrics, DynamoDB, EC2). Point an AWS SDK or the AWS CLI at this "
            "address; every API request is SigV4-signed.</p><ul>"
            f'<li>health: <a href="{HEALTH_PATH}">{HEALTH_PATH}</a></li>'
            f"<li>console: {console}</li>"
            f'<li>docs: README.md of lambdad; the Lambda API: <a href="{DOCS_URL}">{DOCS_URL}</a></li>'
            "</ul></body></html>\n")
        content_type = b"text/html; charset=utf-8"
    else:
        body = (f"lambdad {__version__}: a self-hosted server speaking the AWS Lambda APIs. Point an AWS SDK "
                "or the AWS CLI here (requests are SigV4-signed).\n"
                f"health:  {base}{HEALTH_PATH}\n"
                f"console: {base + console_path if console_path else 'not built yet'}\n"
                f"docs:    README.md of lambdad; the Lambda API: {DOCS_URL}\n")
        content_type = b"text/plain; charset=utf-8"
    data = body.encode()
    if request.method == "HEAD":
        return ApiResponse(200, b"", [(b"content-type", content_type)], length=len(data))
    return ApiResponse(200, data, [(b"content-type", content_type)])
