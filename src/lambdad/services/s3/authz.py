"""Authorization of S3 calls: S3's action names (Service Authorization Reference, "Actions defined by
Amazon S3"), its ARNs (`arn:aws:s3:::bucket`, `arn:aws:s3:::bucket/key`), the caller's identity
policies and the bucket's policy. The bucket owner's account decides which account the resource is
in: another account's bucket is denied unless its policy allows the caller (and the caller's own
policies allow it too, as for any cross-account access)."""

from __future__ import annotations

import json
from typing import Any

from lambdad.api.base import ApiRequest, Authorize, request_context, signer
from lambdad.auth.authorizer import Authorizer
from lambdad.errors import S3Error
from lambdad.services.s3.service import S3Service

# operation -> (IAM action, whether the resource is the object rather than the bucket)
ACTIONS: dict[str, tuple[str, bool]] = {
    "ListBuckets": ("s3:ListAllMyBuckets", False),
    "CreateBucket": ("s3:CreateBucket", False),
    "HeadBucket": ("s3:ListBucket", False),
    "DeleteBucket": ("s3:DeleteBucket", False),
    "GetBucketLocation": ("s3:GetBucketLocation", False),
    "ListObjects": ("s3:ListBucket", False),
    "ListObjectsV2": ("s3:ListBucket", False),
    "ListObjectVersions": ("s3:ListBucketVersions", False),
    "ListMultipartUploads": ("s3:ListBucketMultipartUploads", False),
    "PutBucketPolicy": ("s3:PutBucketPolicy", False),
    "GetBucketPolicy": ("s3:GetBucketPolicy", False),
    "DeleteBucketPolicy": ("s3:DeleteBucketPolicy", False),
    "PutBucketVersioning": ("s3:PutBucketVersioning", False),
    "GetBucketVersioning": ("s3:GetBucketVersioning", False),
    "PutBucketTagging": ("s3:PutBucketTagging", False),
    "GetBucketTagging": ("s3:GetBucketTagging", False),
    "DeleteBucketTagging": ("s3:PutBucketTagging", False),
    "PutBucketNotificationConfiguration": ("s3:PutBucketNotification", False),
    "GetBucketNotificationConfiguration": ("s3:GetBucketNotification", False),
    "PutBucketCors": ("s3:PutBucketCORS", False),
    "GetBucketCors": ("s3:GetBucketCORS", False),
    "DeleteBucketCors": ("s3:PutBucketCORS", False),
    "PutBucketLifecycleConfiguration": ("s3:PutLifecycleConfiguration", False),
    "GetBucketLifecycleConfiguration": ("s3:GetLifecycleConfiguration", False),
    "DeleteBucketLifecycle": ("s3:PutLifecycleConfiguration", False),
    "PutObject": ("s3:PutObject", True),
    "CopyObject": ("s3:PutObject", True),
    "GetObject": ("s3:GetObject", True),
    "HeadObject": ("s3:GetObject", True),
    "DeleteObject": ("s3:DeleteObject", True),
    "DeleteObjects": ("s3:DeleteObject", False),
    "PutObjectTagging": ("s3:PutObjectTagging", True),
    "GetObjectTagging": ("s3:GetObjectTagging", True),
    "DeleteObjectTagging": ("s3:DeleteObjectTagging", True),
    "CreateMultipartUpload": ("s3:PutObject", True),
    "UploadPart": ("s3:PutObject", True),
    "UploadPartCopy": ("s3:PutObject", True),
    "CompleteMultipartUpload": ("s3:PutObject", True),
    "AbortMultipartUpload": ("s3:AbortMultipartUpload", True),
    "ListParts": ("s3:ListMultipartUploadParts", True),
}
# Read of a specific version: S3 asks for the *Version action instead.
_VERSIONED = {"s3:GetObject": "s3:GetObjectVersion", "s3:DeleteObject": "s3:DeleteObjectVersion",
              "s3:GetObjectTagging": "s3:GetObjectVersionTagging", "s3:PutObjectTagging": "s3:PutObjectVersionTagging"}


def hook(authz: Authorizer, s3: S3Service) -> Authorize:

    def check(request: ApiRequest, action: str, bucket_name: str, key: str | None) -> None:
        principal = signer(request)
        resource = f"arn:aws:s3:::{bucket_name}" + (f"/{key}" if key is not None else "")
        # A new bucket is created in the caller's account (a taken name is the domain's to refuse).
        bucket = s3.buckets.find(bucket_name) if bucket_name and action != "s3:CreateBucket" else None
        owner = bucket.account if bucket is not None else principal.account
        request.action, request.resource = action, resource
        if principal.is_root and owner == principal.account:
            return
        text = bucket.config.get("Policy") if bucket is not None else None
        resource_policy = json.loads(text) if text else None
        authz.authorize(principal, action, resource, owner, resource_policy, request_context(request),
                        error=S3Error, code="AccessDenied")

    def authorize(request: ApiRequest, op: str, params: dict[str, Any]) -> None:
        action, on_object = ACTIONS.get(op, ("s3:" + op, False))
        if params.get("VersionId") and action in _VERSIONED:
            action = _VERSIONED[action]
        bucket = str(params.get("Bucket") or "")
        if op == "ListBuckets":
            check(request, action, "", None)
            request.resource = "*"
            return
        if op in ("CopyObject", "UploadPartCopy"):
            source, _, _ = str(params.get("CopySource") or "").partition("?")
            from urllib.parse import unquote

            src_bucket, _, src_key = unquote(source).lstrip("/").partition("/")
            check(request, "s3:GetObject", src_bucket, src_key)
        check(request, action, bucket, str(params.get("Key", "")) if on_object else None)
        if op == "DeleteObjects":
            for item in (params.get("Delete") or {}).get("Objects") or []:
                check(request, "s3:DeleteObject", bucket, str(item.get("Key", "")))

    return authorize
