"""SNS on the wire: the query protocol (form `Action=<Op>`, XML), from botocore's SNS model.

The SubscribeURL and UnsubscribeURL that SNS hands to HTTP endpoints are plain unsigned GETs
(`/?Action=ConfirmSubscription&TopicArn=..&Token=..`), so those two actions are also served
without a signature (`anonymous`), as AWS does.
"""

from __future__ import annotations

import base64
from typing import Any

from lambdad import botocore_models
from lambdad.api import query
from lambdad.api.base import ApiRequest, Authorize
from lambdad.errors import SnsError
from lambdad.services.sns.topics import (
    MAX_BATCH,
    MAX_MESSAGE_BYTES,
    PAGE,
    PublishEntry,
    SnsService,
    Topic,
    invalid,
    payload_size,
    validate_attributes,
)

_ANONYMOUS_ACTIONS = frozenset({"ConfirmSubscription", "Unsubscribe"})
_BATCH_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")


# Operations of botocore's SNS model that lambdad does not serve: mobile push (platform applications
# and their endpoints) and SMS. Each is refused in SNS's own error shape, naming what is missing,
# rather than as an unknown action.
_MOBILE_PUSH = ("CreatePlatformApplication", "CreatePlatformEndpoint", "DeleteEndpoint", "DeletePlatformApplication",
                "GetEndpointAttributes", "GetPlatformApplicationAttributes", "ListEndpointsByPlatformApplication",
                "ListPlatformApplications", "SetEndpointAttributes", "SetPlatformApplicationAttributes")
_SMS = ("CheckIfPhoneNumberIsOptedOut", "CreateSMSSandboxPhoneNumber", "DeleteSMSSandboxPhoneNumber",
        "GetSMSAttributes", "GetSMSSandboxAccountStatus", "ListOriginationNumbers", "ListPhoneNumbersOptedOut",
        "ListSMSSandboxPhoneNumbers", "OptInPhoneNumber", "SetSMSAttributes", "VerifySMSSandboxPhoneNumber")


def not_served(operation: str) -> SnsError:
    what = "mobile push (platform applications and endpoints)" if operation in _MOBILE_PUSH else "SMS"
    return SnsError(f"{operation} is not available: lambdad's SNS does not implement {what}.",
                    code="InvalidAction")


def anonymous(request: ApiRequest) -> bool:
    """An unsigned SubscribeURL / UnsubscribeURL visit."""
    actions = request.query.get("Action")
    return bool(actions and actions[0] in _ANONYMOUS_ACTIONS)


def _page(items: list[Any], token: str | None) -> tuple[list[Any], str | None]:
    start = 0
    if token:
        try:
            start = int(base64.urlsafe_b64decode(token.encode()).decode())
        except (ValueError, UnicodeDecodeError):
            raise invalid("NextToken") from None
    page = items[start:start + PAGE]
    more = start + PAGE < len(items)
    return page, base64.urlsafe_b64encode(str(start + PAGE).encode()).decode() if more else None


def _batch_error(code: str, message: str) -> SnsError:
    return SnsError(message, code=code)


def build(sns: SnsService, authorize: Authorize | None) -> query.QueryService:
    model = botocore_models.service_model("sns")
    # The model's constraints (tag key/value lengths, ARN length, ...) are checked before any handler,
    # in AWS's generated wording under SNS's code for them (ValidationError).
    svc = query.QueryService(model, missing_parameter=lambda op, name: invalid(
        f"{name} Reason: no value for required parameter"), validation_code="ValidationError", authorize=authorize)

    def account(request: ApiRequest) -> str:
        assert request.principal is not None
        return request.principal.account

    def topic_for_resource(arn: str) -> Topic:
        topic = sns.topics.get(arn)
        if topic is None:
            raise SnsError("Resource does not exist", code="ResourceNotFound", status=404)
        return topic

    # -- topics -------------------------------------------------------------------------------------
    @svc.operation("CreateTopic")
    async def create_topic(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        attributes = dict(p.get("Attributes") or {})
        if p.get("DataProtectionPolicy"):
            attributes["DataProtectionPolicy"] = p["DataProtectionPolicy"]
        topic = sns.create_topic(account(request), request.region, p["Name"], attributes, p.get("Tags"))
        return {"TopicArn": topic.arn}

    @svc.operation("DeleteTopic")
    async def delete_topic(request: ApiRequest, p: dict[str, Any]) -> None:
        if p["TopicArn"].split(":")[3:4] == [request.region]:  # another region's topic is not this region's
            sns.delete_topic(p["TopicArn"])

    @svc.operation("ListTopics")
    async def list_topics(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        page, token = _page(sns.list_topics(account(request), request.region), p.get("NextToken"))
        out: dict[str, Any] = {"Topics": [{"TopicArn": t.arn} for t in page]}
        if token:
            out["NextToken"] = token
        return out

    @svc.operation("GetTopicAttributes")
    async def get_topic_attributes(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        return {"Attributes": sns.topic_attributes(sns.get_topic(p["TopicArn"], region=request.region))}

    @svc.operation("SetTopicAttributes")
    async def set_topic_attributes(request: ApiRequest, p: dict[str, Any]) -> None:
        sns.set_topic_attribute(sns.get_topic(p["TopicArn"], region=request.region), p["AttributeName"],
                                p.get("AttributeValue"))

    @svc.operation("AddPermission")
    async def add_permission(request: ApiRequest, p: dict[str, Any]) -> None:
        sns.add_permission(sns.get_topic(p["TopicArn"], region=request.region), p["Label"], p["AWSAccountId"],
                           p["ActionName"])

    @svc.operation("RemovePermission")
    async def remove_permission(request: ApiRequest, p: dict[str, Any]) -> None:
        sns.remove_permission(sns.get_topic(p["TopicArn"], region=request.region), p["Label"])

    @svc.operation("TagResource")
    async def tag_resource(request: ApiRequest, p: dict[str, Any]) -> None:
        sns.tag(topic_for_resource(p["ResourceArn"]), p.get("Tags") or [])

    @svc.operation("UntagResource")
    async def untag_resource(request: ApiRequest, p: dict[str, Any]) -> None:
        sns.untag(topic_for_resource(p["ResourceArn"]), p.get("TagKeys") or [])

    @svc.operation("ListTagsForResource")
    async def list_tags_for_resource(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        return {"Tags": list(topic_for_resource(p["ResourceArn"]).tags)}

    # -- subscriptions ------------------------------------------------------------------------------
    @svc.operation("Subscribe")
    async def subscribe(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        topic = sns.get_topic(p["TopicArn"], region=request.region)
        sub = sns.subscribe(topic, p["Protocol"], p.get("Endpoint"), account(request), p.get("Attributes"))
        if sub.pending and not p.get("ReturnSubscriptionArn"):
            return {"SubscriptionArn": "pending confirmation"}
        return {"SubscriptionArn": sub.arn}

    @svc.operation("ConfirmSubscription")
    async def confirm_subscription(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        return {"SubscriptionArn": sns.confirm_subscription(p.get("TopicArn"), p.get("Token")).arn}

    @svc.operation("Unsubscribe")
    async def unsubscribe(request: ApiRequest, p: dict[str, Any]) -> None:
        sns.unsubscribe(p.get("SubscriptionArn"))

    def listing(subs: list[Any], token: str | None) -> dict[str, Any]:
        page, next_token = _page(subs, token)
        out: dict[str, Any] = {"Subscriptions": [
            {"SubscriptionArn": "PendingConfirmation" if s.pending else s.arn, "Owner": s.owner,
             "Protocol": s.protocol, "Endpoint": s.endpoint, "TopicArn": s.topic_arn} for s in page]}
        if next_token:
            out["NextToken"] = next_token
        return out

    @svc.operation("ListSubscriptions")
    async def list_subscriptions(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        return listing(sns.list_subscriptions(account(request), request.region), p.get("NextToken"))

    @svc.operation("ListSubscriptionsByTopic")
    async def list_subscriptions_by_topic(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        topic = sns.get_topic(p["TopicArn"], region=request.region)
        return listing(sns.list_subscriptions(account(request), request.region, topic.arn), p.get("NextToken"))

    @svc.operation("GetSubscriptionAttributes")
    async def get_subscription_attributes(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        sub = sns.get_subscription(p["SubscriptionArn"], region=request.region)
        return {"Attributes": sns.subscription_attributes(sub)}

    @svc.operation("SetSubscriptionAttributes")
    async def set_subscription_attributes(request: ApiRequest, p: dict[str, Any]) -> None:
        sns.set_subscription_attribute(sns.get_subscription(p["SubscriptionArn"], region=request.region),
                                       p["AttributeName"],
                                       p.get("AttributeValue"))

    # -- publishing ---------------------------------------------------------------------------------
    def entry(p: dict[str, Any]) -> PublishEntry:
        return PublishEntry(p.get("Message", ""), p.get("Subject"), p.get("MessageStructure"),
                            p.get("MessageAttributes"), p.get("MessageGroupId"), p.get("MessageDeduplicationId"),
                            p.get("Id", ""))

    @svc.operation("Publish")
    async def publish(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        if p.get("PhoneNumber") and not (p.get("TopicArn") or p.get("TargetArn")):
            raise invalid("PhoneNumber Reason: SMS delivery is not available on this lambdad server")
        if p.get("TopicArn") and p.get("TargetArn"):
            raise invalid("Only one of TopicArn or TargetArn may be specified")
        if p.get("TargetArn") and not p.get("TopicArn"):
            parts = p["TargetArn"].split(":")
            if len(parts) >= 6 and parts[2] == "sns" and p["TargetArn"] not in sns.topics:
                raise invalid("TargetArn Reason: No endpoint found for the target arn specified")
            topic = sns.get_topic(p["TargetArn"], "TargetArn", region=request.region)
        else:
            topic = sns.get_topic(p.get("TopicArn"), region=request.region)
        return sns.publish_entries(topic, [entry(p)])[0]

    @svc.operation("PublishBatch")
    async def publish_batch(request: ApiRequest, p: dict[str, Any]) -> dict[str, Any]:
        topic = sns.get_topic(p["TopicArn"], region=request.region)
        entries = p.get("PublishBatchRequestEntries") or []
        if not entries:
            raise _batch_error("EmptyBatchRequest", "The batch request doesn't contain any entries.")
        if len(entries) > MAX_BATCH:
            raise _batch_error("TooManyEntriesInBatchRequest", "The batch request contains more entries than "
                                                               "permissible.")
        ids = [e.get("Id", "") for e in entries]
        for entry_id in ids:
            if len(entry_id) > 80:
                raise _batch_error("InvalidBatchEntryId", "The Id of a batch entry in the batch request is too "
                                                          f"long: {entry_id}")
            if not entry_id or not set(entry_id) <= _BATCH_ID_CHARS:
                raise _batch_error("InvalidBatchEntryId", "The Id of a batch entry in the batch request contains an "
                                                          f"impermissible character: {entry_id}")
        if len(set(ids)) != len(ids):
            raise _batch_error("BatchEntryIdsNotDistinct", "Two or more batch entries in the request have the same Id.")
        total = 0
        for e in entries:
            try:
                attributes = validate_attributes(e.get("MessageAttributes"))
            except SnsError:
                attributes = {}  # refused per entry below
            total += payload_size(str(e.get("Message", "")), attributes)
        if total > MAX_MESSAGE_BYTES:
            raise _batch_error("BatchRequestTooLong", "The length of all the messages put together is more than the "
                                                      "limit.")
        results = sns.publish_entries(topic, [entry(e) for e in entries])
        return {"Successful": [{"Id": e["Id"], **r} for e, r in zip(entries, results, strict=True)], "Failed": []}

    for name in (*_MOBILE_PUSH, *_SMS):
        async def refuse(request: ApiRequest, p: dict[str, Any], _name: str = name) -> None:
            raise not_served(_name)
        svc.operation(name)(refuse)

    return svc
