"""A small built-in set of AWS-managed policies (``arn:aws:iam::aws:policy/...``), the ones Lambda users
attach most. Their documents follow the published ones for the services lambdad embeds; actions of
services lambdad does not have are left out (they would never match a request here).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

CREATED = 1423440000.0  # 2015-02-09, about when AWS published its first managed policies


def _doc(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)}, indent=4)


_LOGS_WRITE = {"Effect": "Allow", "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
               "Resource": "*"}

_POLICIES: dict[str, tuple[str, str, str]] = {  # name -> (path, description, document)
    "AdministratorAccess": ("/", "Provides full access to AWS services and resources.",
                            _doc({"Effect": "Allow", "Action": "*", "Resource": "*"})),
    "PowerUserAccess": ("/", "Provides full access to AWS services and resources, but does not allow management "
                        "of Users and groups.",
                        _doc({"Effect": "Allow", "NotAction": ["iam:*", "organizations:*", "account:*"],
                              "Resource": "*"},
                             {"Effect": "Allow", "Action": [
                                 "iam:CreateServiceLinkedRole", "iam:DeleteServiceLinkedRole", "iam:ListRoles",
                                 "organizations:DescribeOrganization", "account:ListRegions"], "Resource": "*"})),
    "ReadOnlyAccess": ("/", "Provides read-only access to AWS services and resources.",
                       _doc({"Effect": "Allow", "Action": [
                           "iam:Get*", "iam:List*", "lambda:Get*", "lambda:List*", "logs:Describe*", "logs:Get*",
                           "logs:FilterLogEvents", "sqs:GetQueueAttributes", "sqs:GetQueueUrl", "sqs:ListQueues",
                           "sqs:ListDeadLetterSourceQueues", "sqs:ListQueueTags", "sns:Get*", "sns:List*"],
                           "Resource": "*"})),
    "IAMFullAccess": ("/", "Provides full access to IAM via the AWS Management Console.",
                      _doc({"Effect": "Allow", "Action": ["iam:*", "organizations:DescribeAccount",
                                                          "organizations:DescribeOrganization"], "Resource": "*"})),
    "IAMReadOnlyAccess": ("/", "Provides read only access to IAM via the AWS Management Console.",
                          _doc({"Effect": "Allow", "Action": ["iam:GenerateCredentialReport", "iam:Get*", "iam:List*",
                                                              "iam:SimulateCustomPolicy",
                                                              "iam:SimulatePrincipalPolicy"], "Resource": "*"})),
    "AWSLambda_FullAccess": ("/", "Grants full access to AWS Lambda service, AWS Lambda console features, and other "
                             "related AWS services.",
                             _doc({"Effect": "Allow", "Action": ["lambda:*", "logs:DescribeLogGroups",
                                                                 "logs:DescribeLogStreams", "logs:GetLogEvents",
                                                                 "logs:FilterLogEvents", "sqs:ListQueues",
                                                                 "sns:ListTopics", "iam:ListRoles",
                                                                 "iam:ListRolePolicies",
                                                                 "iam:ListAttachedRolePolicies", "iam:GetRole",
                                                                 "iam:GetPolicy", "iam:GetPolicyVersion",
                                                                 "iam:GetRolePolicy"], "Resource": "*"},
                                  {"Effect": "Allow", "Action": "iam:PassRole", "Resource": "*",
                                   "Condition": {"StringEquals": {"iam:PassedToService": "lambda.amazonaws.com"}}})),
    "AWSLambda_ReadOnlyAccess": ("/", "Grants read-only access to AWS Lambda service, AWS Lambda console features, "
                                 "and other related AWS services.",
                                 _doc({"Effect": "Allow", "Resource": "*", "Action": [
                                     "lambda:Get*", "lambda:List*", "logs:DescribeLogGroups",
                                     "logs:DescribeLogStreams", "logs:GetLogEvents", "logs:FilterLogEvents",
                                     "iam:GetPolicy", "iam:GetPolicyVersion", "iam:GetRole", "iam:GetRolePolicy",
                                     "iam:ListAttachedRolePolicies", "iam:ListRolePolicies", "iam:ListRoles"]})),
    "AWSLambdaExecute": ("/", "Provides Put, Get access to S3 and full access to CloudWatch Logs.",
                         _doc({"Effect": "Allow", "Action": ["logs:*"], "Resource": "arn:aws:logs:*:*:*"},
                              {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"],
                               "Resource": "arn:aws:s3:::*"})),
    "AWSLambdaInvocation-DynamoDB": ("/", "Provides read access to DynamoDB Streams.",
                                     _doc({"Effect": "Allow", "Action": ["lambda:InvokeFunction"], "Resource": "*"})),
    "AmazonSQSFullAccess": ("/", "Provides full access to Amazon SQS via the AWS Management Console.",
                            _doc({"Effect": "Allow", "Action": ["sqs:*"], "Resource": "*"})),
    "AmazonSQSReadOnlyAccess": ("/", "Provides read only access to Amazon SQS via the AWS Management Console.",
                                _doc({"Effect": "Allow", "Action": ["sqs:GetQueueAttributes", "sqs:GetQueueUrl",
                                                                    "sqs:ListDeadLetterSourceQueues",
                                                                    "sqs:ListQueues", "sqs:ListQueueTags"],
                                      "Resource": "*"})),
    "AmazonSNSFullAccess": ("/", "Provides full access to Amazon SNS via the AWS Management Console.",
                            _doc({"Effect": "Allow", "Action": ["sns:*"], "Resource": "*"})),
    "CloudWatchLogsFullAccess": ("/", "Provides full access to CloudWatch Logs",
                                 _doc({"Effect": "Allow", "Action": ["logs:*"], "Resource": "*"})),
    "CloudWatchLogsReadOnlyAccess": ("/", "Provides read only access to CloudWatch Logs",
                                     _doc({"Effect": "Allow", "Action": ["logs:Describe*", "logs:Get*", "logs:List*",
                                                                         "logs:StartQuery", "logs:StopQuery",
                                                                         "logs:TestMetricFilter",
                                                                         "logs:FilterLogEvents"], "Resource": "*"})),
    "AWSLambdaBasicExecutionRole": ("/service-role/", "Provides write permissions to CloudWatch Logs.",
                                    _doc(_LOGS_WRITE)),
    "AWSLambdaRole": ("/service-role/", "Default policy for AWS Lambda service role.",
                      _doc({"Effect": "Allow", "Action": ["lambda:InvokeFunction"], "Resource": ["*"]})),
    "AWSLambdaSQSQueueExecutionRole": ("/service-role/", "Provides receive message, delete message, and read "
                                       "attribute access to SQS queues, and write permissions to CloudWatch logs.",
                                       _doc({"Effect": "Allow", "Action": ["sqs:ReceiveMessage", "sqs:DeleteMessage",
                                                                           "sqs:GetQueueAttributes"],
                                             "Resource": "*"}, _LOGS_WRITE)),
}


def _policy_id(name: str) -> str:
    digest = hashlib.sha256(name.encode()).hexdigest().upper()
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
    return "ANPA" + "".join(alphabet[int(digest[i:i + 2], 16) % 32] for i in range(0, 34, 2))


def builtin() -> dict[str, dict[str, Any]]:
    """ARN -> policy record, in the IAM domain's record shape."""
    out: dict[str, dict[str, Any]] = {}
    for name, (path, description, document) in _POLICIES.items():
        arn = f"arn:aws:iam::aws:policy{path}{name}"
        out[arn] = {"PolicyName": name, "PolicyId": _policy_id(name), "Arn": arn, "Path": path,
                    "Description": description, "CreateDate": CREATED, "UpdateDate": CREATED,
                    "DefaultVersionId": "v1", "IsAttachable": True,
                    "Versions": {"v1": {"Document": document, "CreateDate": CREATED}}, "NextVersion": 2, "Tags": []}
    return out
