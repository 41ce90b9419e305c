"""Invocations an AWS service makes on a function's behalf: SNS deliveries, EventBridge targets and
Lambda destinations now; event sources plug in here. Each is allowed only by the function's resource policy (as on
AWS) and runs as an asynchronous invocation, so retries and destinations apply."""

from __future__ import annotations

import json

from lambdad.auth.access import service_may_invoke
from lambdad.control.functions import LATEST, FunctionRecord
from lambdad.control.names import FunctionRef, function_arn, parse_function_ref
from lambdad.control.permissions import Permissions
from lambdad.control.resolver import Resolver
from lambdad.errors import AccessDeniedException, LambdadError, ResourceNotFoundException
from lambdad.invoke.async_queue import AsyncQueue


class Triggers:
    def __init__(self, resolver: Resolver, permissions: Permissions, queue: AsyncQueue, default_region: str,
                 default_account: str) -> None:
        self.resolver = resolver
        self.permissions = permissions
        self.queue = queue
        self.default_region = default_region
        self.default_account = default_account

    def _ref(self, target: str, account: str, region: str | None = None) -> FunctionRef:
        """The function a target names. `region` is the source's where AWS requires the function in the
        source's region (EventBridge, CloudWatch Logs): a function ARN of another region is refused; else
        (SNS, which may invoke across regions) the ARN's own region, or the default one for a name."""
        if region is None:
            parts = target.split(":")
            region = parts[3] if target.startswith("arn:") and len(parts) > 3 else self.default_region
        return parse_function_ref(target, None, account, region=region)

    def may_invoke(self, rec: FunctionRecord, qualifier: str | None, service: str, source_arn: str,
                   source_account: str | None = None) -> bool:
        found = self.permissions.document(rec, qualifier)
        return service_may_invoke(found[0] if found else None,
                                  function_arn(rec.region, rec.account, rec.name, qualifier), rec.account,
                                  service, source_arn, source_account)

    def s3_may_invoke(self, target_arn: str, bucket_arn: str, bucket_account: str) -> bool | None:
        """Whether a bucket's notifications may invoke the function (its policy must allow
        s3.amazonaws.com from the bucket and its owner, as S3 checks when the notification is
        configured); None when there is no such function."""
        ref = self._ref(target_arn, self.default_account)
        try:
            fv, _ = self.resolver.for_invoke(ref.account, ref.region, ref.name, ref.qualifier)
        except ResourceNotFoundException:
            return None
        return self.may_invoke(fv.function, ref.qualifier, "s3.amazonaws.com", bucket_arn, bucket_account)

    async def deliver_s3(self, target_arn: str, bucket_arn: str, bucket_account: str, event: bytes) -> None:
        """An S3 event notification: allowed by the function's policy (checked again at delivery, as
        the policy may have changed), accepted durably as an asynchronous invocation."""
        ref = self._ref(target_arn, self.default_account)
        fv, _ = self.resolver.for_invoke(ref.account, ref.region, ref.name, ref.qualifier)
        if not self.may_invoke(fv.function, ref.qualifier, "s3.amazonaws.com", bucket_arn, bucket_account):
            raise AccessDeniedException(f"s3.amazonaws.com may not invoke {target_arn}: add a permission with "
                                        f"Principal s3.amazonaws.com and SourceArn {bucket_arn}")
        self.queue.accept(fv.account, fv.region, fv.name, ref.qualifier, event)

    async def invoke_destination(self, account: str, target_arn: str, payload: bytes) -> None:
        """A Lambda destination of an asynchronous invocation: the record becomes the target's event."""
        ref = self._ref(target_arn, account)
        fv, _ = self.resolver.for_invoke(ref.account, ref.region, ref.name, ref.qualifier)
        self.queue.accept(fv.account, fv.region, fv.name, ref.qualifier, payload)

    async def deliver_sns(self, target_arn: str, event: bytes) -> None:
        """An SNS subscription's delivery to a function: the topic must be allowed by the function's
        policy, as on AWS, then queued durably as an asynchronous invocation."""
        ref = self._ref(target_arn, self.default_account)  # SNS may invoke a function in another region
        fv, _ = self.resolver.for_invoke(ref.account, ref.region, ref.name, ref.qualifier)
        topic_arn = json.loads(event)["Records"][0]["Sns"]["TopicArn"]
        if not self.may_invoke(fv.function, ref.qualifier, "sns.amazonaws.com", topic_arn):
            raise AccessDeniedException(f"sns.amazonaws.com may not invoke {target_arn}: add a permission with "
                                        f"Principal sns.amazonaws.com and SourceArn {topic_arn}")
        self.queue.accept(fv.account, fv.region, fv.name, ref.qualifier, event)

    async def deliver_events(self, target_arn: str, rule_arn: str, payload: bytes) -> None:
        """An EventBridge target (a rule's or a schedule's): the function's policy must allow
        events.amazonaws.com (scheduler.amazonaws.com for a schedule) from that ARN, then the event is
        queued durably as an asynchronous invocation."""
        parts = rule_arn.split(":")
        service = "scheduler.amazonaws.com" if len(parts) > 2 and parts[2] == "scheduler" else "events.amazonaws.com"
        ref = self._ref(target_arn, parts[4] if len(parts) > 4 else self.default_account,
                        parts[3] if len(parts) > 4 else None)  # a rule's targets are in its region
        fv, _ = self.resolver.for_invoke(ref.account, ref.region, ref.name, ref.qualifier)
        if service == "events.amazonaws.com" and not self.may_invoke(fv.function, ref.qualifier, service, rule_arn):
            raise AccessDeniedException(f"{service} may not invoke {target_arn}: add a permission with "
                                        f"Principal {service} and SourceArn {rule_arn}")
        self.queue.accept(fv.account, fv.region, fv.name, ref.qualifier, payload)
    # -- CloudWatch Logs subscription filters ---------------------------------------------------
    def _logs_target(self, target_arn: str, region: str | None = None) -> tuple[FunctionRecord, str | None] | None:
        try:
            ref = self._ref(target_arn, self.default_account, region)
            fv, _ = self.resolver.for_invoke(ref.account, ref.region, ref.name, ref.qualifier)
        except LambdadError:
            return None
        return fv.function, ref.qualifier

    def logs_refusal(self, target_arn: str, log_group_arn: str) -> str | None:
        """Why CloudWatch Logs may not deliver a subscription filter to a function (None: it may)."""
        parts = log_group_arn.split(":")
        found = self._logs_target(target_arn, parts[3] if len(parts) > 3 else None)  # the group's region only
        if found is None or not self.may_invoke(found[0], found[1], "logs.amazonaws.com", log_group_arn):
            return ("Could not execute the lambda function. Make sure you have given CloudWatch Logs permission to "
                    "execute your function.")
        return None

    def log_group_of(self, target_arn: str) -> str | None:
        found = self._logs_target(target_arn)
        return found[0].versions[LATEST].log_group if found is not None else None

    async def deliver_logs(self, target_arn: str, log_group_arn: str, event: bytes) -> None:
        """A subscription filter's batch (the `awslogs` event), queued as an asynchronous invocation
        once the function's policy allows logs.amazonaws.com from the log group, as on AWS."""
        parts = log_group_arn.split(":")
        ref = self._ref(target_arn, self.default_account, parts[3] if len(parts) > 3 else None)
        fv, _ = self.resolver.for_invoke(ref.account, ref.region, ref.name, ref.qualifier)
        if not self.may_invoke(fv.function, ref.qualifier, "logs.amazonaws.com", log_group_arn):
            raise AccessDeniedException(f"logs.amazonaws.com may not invoke {target_arn}: add a permission with "
                                        f"Principal logs.amazonaws.com and SourceArn {log_group_arn}")
        self.queue.accept(fv.account, fv.region, fv.name, ref.qualifier, event)
