"""Authorization of API calls: identity policies, resource policies, other accounts, execution roles,
secrets at rest and the audit log, through the real server with boto3 (and code running in functions)."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError

from tests.conftest import ACCESS_KEY, ROLE, SECRET_KEY, Server, create_function, make_zip, unique

ACCOUNT = "000000000000"
REGION = "us-east-1"
HELLO = "def handler(event, context):\n    return 'hi'\n"


def _error(exc: pytest.ExceptionInfo[ClientError]) -> tuple[int, str, str]:
    resp = exc.value.response
    return resp["ResponseMetadata"]["HTTPStatusCode"], resp["Error"]["Code"], resp["Error"]["Message"]


def _fn_arn(name: str, account: str = ACCOUNT) -> str:
    return f"arn:aws:lambda:{REGION}:{account}:function:{name}"


def _doc(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def _user(server: Server, *statements: dict[str, Any], iam: Any = None) -> tuple[str, dict[str, str]]:
    """A user with an inline policy of these statements; (user ARN, its keys as client kwargs)."""
    iam = iam or server.client("iam")
    name = unique("user")
    arn = iam.create_user(UserName=name)["User"]["Arn"]
    if statements:
        iam.put_user_policy(UserName=name, PolicyName="inline", PolicyDocument=_doc(*statements))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return arn, {"key": key["AccessKeyId"], "secret": key["SecretAccessKey"]}


def _lambda_role(server: Server, *statements: dict[str, Any]) -> str:
    iam = server.client("iam")
    name = unique("exec")
    trust = _doc({"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"})
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust)["Role"]["Arn"]
    if statements:
        iam.put_role_policy(RoleName=name, PolicyName="inline", PolicyDocument=_doc(*statements))
    return arn


# -- the scenario ------------------------------------------------------------------------

def test_allow_prefix_deny_one_function(server: Server, lam: Any) -> None:
    prefix = unique("f")
    f1, f2, g = f"{prefix}1", f"{prefix}2", unique("g")
    for name in (f1, f2, g):
        create_function(lam, HELLO, name=name)
    arn, keys = _user(server,
                      {"Effect": "Allow", "Action": "lambda:InvokeFunction",
                       "Resource": f"arn:aws:lambda:*:*:function:{prefix}*"},
                      {"Effect": "Deny", "Action": "lambda:InvokeFunction", "Resource": _fn_arn(f2)})
    alice = server.client("lambda", **keys)
    assert alice.invoke(FunctionName=f1)["Payload"].read() == b'"hi"'
    with pytest.raises(ClientError) as exc:
        alice.invoke(FunctionName=f2)
    assert _error(exc) == (403, "AccessDeniedException", f"User: {arn} is not authorized to perform: "
                           f"lambda:InvokeFunction on resource: {_fn_arn(f2)} with an explicit deny in an "
                           "identity-based policy")
    with pytest.raises(ClientError) as exc:
        alice.invoke(FunctionName=g)
    assert _error(exc) == (403, "AccessDeniedException", f"User: {arn} is not authorized to perform: "
                           f"lambda:InvokeFunction on resource: {_fn_arn(g)} because no identity-based policy "
                           "allows the lambda:InvokeFunction action")
    with pytest.raises(ClientError) as exc:
        alice.get_function(FunctionName=f1)
    assert _error(exc)[2].endswith("because no identity-based policy allows the lambda:GetFunction action")
    with pytest.raises(ClientError) as exc:
        alice.list_functions()
    assert _error(exc)[2] == (f"User: {arn} is not authorized to perform: lambda:ListFunctions on resource: * "
                              "because no identity-based policy allows the lambda:ListFunctions action")


def test_qualified_arns_match_prefix_policies(server: Server, lam: Any) -> None:
    name = unique("q")
    create_function(lam, HELLO, name=name)
    _, keys = _user(server, {"Effect": "Allow", "Action": "lambda:InvokeFunction",
                             "Resource": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}:*"})
    client = server.client("lambda", **keys)
    assert client.invoke(FunctionName=name, Qualifier="$LATEST")["StatusCode"] == 200
    with pytest.raises(ClientError) as exc:
        client.invoke(FunctionName=name)  # the unqualified ARN is another resource
    assert _error(exc)[:2] == (403, "AccessDeniedException")


def test_group_and_managed_policies_apply_and_revoke_at_once(server: Server, lam: Any) -> None:
    iam = server.client("iam")
    name = unique("grp")
    create_function(lam, HELLO, name=name)
    user_arn, keys = _user(server)
    user = user_arn.rsplit("/", 1)[1]
    group = unique("readers")
    iam.create_group(GroupName=group)
    iam.add_user_to_group(GroupName=group, UserName=user)
    client = server.client("lambda", **keys)
    with pytest.raises(ClientError):
        client.get_function(FunctionName=name)
    iam.attach_group_policy(GroupName=group, PolicyArn="arn:aws:iam::aws:policy/AWSLambda_ReadOnlyAccess")
    assert client.get_function(FunctionName=name)["Configuration"]["FunctionName"] == name
    assert any(f["FunctionName"] == name for f in client.list_functions(MaxItems=1000)["Functions"])
    iam.detach_group_policy(GroupName=group, PolicyArn="arn:aws:iam::aws:policy/AWSLambda_ReadOnlyAccess")
    with pytest.raises(ClientError) as exc:
        client.get_function(FunctionName=name)
    assert _error(exc)[:2] == (403, "AccessDeniedException")


def test_other_services_authorize_too(server: Server) -> None:
    arn, keys = _user(server)
    with pytest.raises(ClientError) as exc:
        server.client("iam", **keys).list_users()
    assert _error(exc) == (403, "AccessDenied", f"User: {arn} is not authorized to perform: iam:ListUsers on "
                           "resource: * because no identity-based policy allows the iam:ListUsers action")
    with pytest.raises(ClientError) as exc:
        server.client("logs", **keys).describe_log_groups()
    assert _error(exc)[:2] == (403, "AccessDeniedException")
    with pytest.raises(ClientError) as exc:
        server.client("sqs", **keys).list_queues()
    assert _error(exc)[0] == 403
    topic = server.client("sns").create_topic(Name=unique("topic"))["TopicArn"]
    with pytest.raises(ClientError) as exc:
        server.client("sns", **keys).publish(TopicArn=topic, Message="m")
    assert _error(exc) == (403, "AuthorizationError", f"User: {arn} is not authorized to perform: sns:Publish on "
                           f"resource: {topic} because no identity-based policy allows the sns:Publish action")
    server.client("iam").put_user_policy(UserName=arn.rsplit("/", 1)[1], PolicyName="publish", PolicyDocument=_doc(
        {"Effect": "Allow", "Action": "sns:Publish", "Resource": topic}))
    assert server.client("sns", **keys).publish(TopicArn=topic, Message="m")["MessageId"]
    # GetCallerIdentity needs no permission at all.
    assert server.client("sts", **keys).get_caller_identity()["Arn"] == arn


# -- resource policies: another user, another account -----------------------------------------------

def test_resource_policy_grants_another_user_and_remove_permission_revokes(server: Server, lam: Any) -> None:
    name = unique("shared")
    create_function(lam, HELLO, name=name)
    bob_arn, keys = _user(server)  # no identity policy at all
    bob = server.client("lambda", **keys)
    with pytest.raises(ClientError):
        bob.invoke(FunctionName=name)
    lam.add_permission(FunctionName=name, StatementId="bob", Action="lambda:InvokeFunction", Principal=bob_arn)
    assert bob.invoke(FunctionName=name)["StatusCode"] == 200
    with pytest.raises(ClientError):
        bob.get_function(FunctionName=name)  # the statement grants invoke only
    lam.remove_permission(FunctionName=name, StatementId="bob")
    with pytest.raises(ClientError) as exc:
        bob.invoke(FunctionName=name)
    assert _error(exc)[:2] == (403, "AccessDeniedException")


def _create_account(server: Server, name: str, key: str = ACCESS_KEY, secret: str = SECRET_KEY
                    ) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "AWS_ACCESS_KEY_ID": key, "AWS_SECRET_ACCESS_KEY": secret, "AWS_DEFAULT_REGION": REGION,
           "PYTHONPATH": os.environ.get("PYTHONPATH", "")}
    return subprocess.run([sys.executable, "-m", "lambdad", "account", "create", name, "--endpoint-url",
                           server.endpoint], env=env, capture_output=True, text=True, timeout=60)


def _parse_keys(stdout: str) -> tuple[str, dict[str, str]]:
    account = stdout.split("# account ", 1)[1].split(" ", 1)[0]
    values = dict(line.split(" = ", 1) for line in stdout.splitlines() if " = " in line)
    return account, {"key": values["aws_access_key_id"], "secret": values["aws_secret_access_key"]}


def test_cross_account_invoke_needs_resource_policy_and_identity_policy(server: Server, lam: Any) -> None:
    created = _create_account(server, unique("acct"))
    assert created.returncode == 0, created.stderr
    other, root_keys = _parse_keys(created.stdout)
    assert len(other) == 12 and other != ACCOUNT
    b_root = server.client("lambda", **root_keys)
    assert server.client("sts", **root_keys).get_caller_identity()["Arn"] == f"arn:aws:iam::{other}:root"
    assert b_root.list_functions()["Functions"] == []  # accounts do not see each other's functions

    name = unique("xacct")
    create_function(lam, HELLO, name=name)
    target = _fn_arn(name)
    with pytest.raises(ClientError) as exc:
        b_root.invoke(FunctionName=target)
    assert _error(exc) == (403, "AccessDeniedException", f"User: arn:aws:iam::{other}:root is not authorized to "
                           f"perform: lambda:InvokeFunction on resource: {target} because no resource-based policy "
                           "allows the lambda:InvokeFunction action")

    lam.add_permission(FunctionName=name, StatementId="other-account", Action="lambda:InvokeFunction",
                       Principal=other)
    assert b_root.invoke(FunctionName=target)["Payload"].read() == b'"hi"'

    # A user of the other account needs its own identity policy as well.
    b_iam = server.client("iam", **root_keys)
    user_arn, user_keys = _user(server, iam=b_iam)
    assert user_arn.startswith(f"arn:aws:iam::{other}:user/")
    b_user = server.client("lambda", **user_keys)
    with pytest.raises(ClientError) as exc:
        b_user.invoke(FunctionName=target)
    assert _error(exc)[2].endswith("because no identity-based policy allows the lambda:InvokeFunction action")
    b_iam.put_user_policy(UserName=user_arn.rsplit("/", 1)[1], PolicyName="invoke", PolicyDocument=_doc(
        {"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": target}))
    assert b_user.invoke(FunctionName=target)["StatusCode"] == 200

    lam.remove_permission(FunctionName=name, StatementId="other-account")
    for client in (b_root, b_user):
        with pytest.raises(ClientError) as exc:
            client.invoke(FunctionName=target)
        assert _error(exc)[:2] == (403, "AccessDeniedException")


def test_only_the_servers_root_manages_accounts(server: Server) -> None:
    _, keys = _user(server, {"Effect": "Allow", "Action": "*", "Resource": "*"})
    refused = _create_account(server, unique("nope"), keys["key"], keys["secret"])
    assert refused.returncode == 1
    assert "Only the root user of the server's own account may manage accounts." in refused.stderr
    assert httpx.post(server.endpoint + "/_lambdad/accounts", json={"Name": "x"}).status_code == 403


# -- execution roles --------------------------------------------------------------------------------

CALLER = '''
import boto3


def _code(exc):
    return getattr(exc, "response", {}).get("Error", {}).get("Code", repr(exc))


def handler(event, context):
    out = {"identity": boto3.client("sts").get_caller_identity()["Arn"]}
    sqs = boto3.client("sqs")
    for url in event.get("queues", []):
        try:
            sqs.send_message(QueueUrl=url, MessageBody="from a function")
            out[url] = "sent"
        except Exception as exc:
            out[url] = _code(exc)
    lam = boto3.client("lambda")
    for name in event.get("functions", []):
        try:
            out[name] = lam.invoke(FunctionName=name)["Payload"].read().decode()
        except Exception as exc:
            out[name] = _code(exc)
    return out
'''


def test_execution_role_scopes_what_the_function_can_do(server: Server, lam: Any) -> None:
    sqs = server.client("sqs")
    q1 = sqs.create_queue(QueueName=unique("allowed"))["QueueUrl"]
    q2 = sqs.create_queue(QueueName=unique("refused"))["QueueUrl"]
    q1_arn = sqs.get_queue_attributes(QueueUrl=q1, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    target, other = unique("target"), unique("other")
    create_function(lam, HELLO, name=target, Timeout=30)  # a cold start on a busy test machine
    create_function(lam, HELLO, name=other, Timeout=30)
    role = _lambda_role(server, {"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": q1_arn},
                        {"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": _fn_arn(target)})
    caller = unique("caller")
    lam.create_function(FunctionName=caller, Runtime="python3.12", Handler="app.handler", Role=role, Timeout=30,
                        Code={"ZipFile": make_zip({"app.py": CALLER})})
    lam.get_waiter("function_active_v2").wait(FunctionName=caller, WaiterConfig={"Delay": 0.2})
    event = {"queues": [q1, q2], "functions": [target, other]}
    out = json.loads(lam.invoke(FunctionName=caller, Payload=json.dumps(event))["Payload"].read())
    role_name = role.rsplit("/", 1)[1]
    assert out["identity"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/{role_name}/{caller}"
    assert out[q1] == "sent"
    assert out[q2] == "AccessDenied"
    assert out[target] == '"hi"'
    assert out[other] == "AccessDeniedException"
    received = sqs.receive_message(QueueUrl=q1, WaitTimeSeconds=1)["Messages"]
    assert received[0]["Body"] == "from a function"
    assert "Messages" not in sqs.receive_message(QueueUrl=q2)


def test_role_must_exist_and_trust_lambda(server: Server, lam: Any) -> None:
    iam = server.client("iam")
    ec2_role = iam.create_role(RoleName=unique("ec2"), AssumeRolePolicyDocument=_doc(
        {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}))["Role"]["Arn"]
    for role in (f"arn:aws:iam::{ACCOUNT}:role/{unique('missing')}", ec2_role):
        with pytest.raises(ClientError) as exc:
            lam.create_function(FunctionName=unique("norole"), Runtime="python3.12", Handler="app.handler",
                                Role=role, Code={"ZipFile": _zip()})
        assert _error(exc) == (400, "InvalidParameterValueException",
                               "The role defined for the function cannot be assumed by Lambda.")
    with pytest.raises(ClientError) as exc:
        lam.create_function(FunctionName=unique("xrole"), Runtime="python3.12", Handler="app.handler",
                            Role="arn:aws:iam::123456789012:role/lambda-role", Code={"ZipFile": _zip()})
    assert _error(exc) == (400, "InvalidParameterValueException", "Cross-account pass role is not allowed.")
    name = create_function(lam, HELLO)
    with pytest.raises(ClientError) as exc:
        lam.update_function_configuration(FunctionName=name, Role=ec2_role)
    assert _error(exc)[2] == "The role defined for the function cannot be assumed by Lambda."
    assert lam.get_function_configuration(FunctionName=name)["Role"] == ROLE


def _zip() -> bytes:
    return make_zip({"app.py": HELLO})


def test_creating_a_function_needs_pass_role(server: Server) -> None:
    iam = server.client("iam")
    arn, keys = _user(server, {"Effect": "Allow", "Action": "lambda:CreateFunction", "Resource": "*"})
    deployer = server.client("lambda", **keys)
    with pytest.raises(ClientError) as exc:
        deployer.create_function(FunctionName=unique("pr"), Runtime="python3.12", Handler="app.handler", Role=ROLE,
                                 Code={"ZipFile": _zip()})
    assert _error(exc) == (403, "AccessDeniedException", f"User: {arn} is not authorized to perform: iam:PassRole "
                           f"on resource: {ROLE} because no identity-based policy allows the iam:PassRole action")
    iam.put_user_policy(UserName=arn.rsplit("/", 1)[1], PolicyName="pass", PolicyDocument=_doc(
        {"Effect": "Allow", "Action": "iam:PassRole", "Resource": ROLE,
         "Condition": {"StringEquals": {"iam:PassedToService": "lambda.amazonaws.com"}}}))
    created = deployer.create_function(FunctionName=unique("pr"), Runtime="python3.12", Handler="app.handler",
                                       Role=ROLE, Code={"ZipFile": _zip()})
    assert created["Role"] == ROLE


# -- secrets at rest ---------------------------------------------------------------------------------

ENV_READER = "import os\n\ndef handler(event, context):\n    return os.environ.get('SECRET_TOKEN')\n"


def test_environment_variables_are_encrypted_at_rest(fresh_server: Server) -> None:
    fresh_server.start()
    lam = fresh_server.client("lambda")
    secret = "s3cr3t-" + unique("value")
    kms = fresh_server.client("kms").create_key()["KeyMetadata"]["Arn"]  # a real key: it seals them (kms:)
    name = create_function(lam, ENV_READER, Environment={"Variables": {"SECRET_TOKEN": secret}}, KMSKeyArn=kms)
    plain = create_function(lam, ENV_READER, Environment={"Variables": {"SECRET_TOKEN": secret}})  # master key
    assert lam.invoke(FunctionName=name)["Payload"].read() == json.dumps(secret).encode()
    fresh_server.stop()
    raw = b"".join(p.read_bytes() for p in fresh_server.data_dir.glob("lambdad.db*"))
    assert name.encode() in raw and secret.encode() not in raw
    with sqlite3.connect(fresh_server.data_dir / "lambdad.db") as db:
        stored = json.loads(db.execute("SELECT config FROM function_versions WHERE name=?", (name,)).fetchone()[0])
        sealed = json.loads(db.execute("SELECT config FROM function_versions WHERE name=?", (plain,)).fetchone()[0])
    assert set(stored["Environment"]) == {"EncryptedVariables"}
    assert stored["Environment"]["EncryptedVariables"].startswith("kms:")
    assert sealed["Environment"]["EncryptedVariables"].startswith("v1:")
    fresh_server.start()
    config = lam.get_function_configuration(FunctionName=name)
    assert config["Environment"] == {"Variables": {"SECRET_TOKEN": secret}} and config["KMSKeyArn"] == kms
    assert lam.invoke(FunctionName=name)["Payload"].read() == json.dumps(secret).encode()


def test_environment_hidden_from_callers_not_allowed_get_function_configuration(server: Server, lam: Any) -> None:
    name = create_function(lam, ENV_READER, Environment={"Variables": {"SECRET_TOKEN": "hidden"}})
    _, keys = _user(server, {"Effect": "Allow", "Action": ["lambda:GetFunction", "lambda:ListFunctions"],
                             "Resource": "*"})
    reader = server.client("lambda", **keys)
    env = reader.get_function(FunctionName=name)["Configuration"]["Environment"]
    assert "Variables" not in env and env["Error"]["ErrorCode"] == "AccessDeniedException"
    listed = next(f for f in reader.list_functions(MaxItems=1000)["Functions"] if f["FunctionName"] == name)
    assert "Variables" not in listed["Environment"]
    with pytest.raises(ClientError):
        reader.get_function_configuration(FunctionName=name)
    _, keys = _user(server, {"Effect": "Allow", "Action": ["lambda:GetFunction", "lambda:GetFunctionConfiguration"],
                             "Resource": _fn_arn(name)})
    allowed = server.client("lambda", **keys)
    assert allowed.get_function(FunctionName=name)["Configuration"]["Environment"] == {
        "Variables": {"SECRET_TOKEN": "hidden"}}



def test_every_answer_carrying_a_configuration_masks_the_environment(server: Server, lam: Any) -> None:
    """Issue 12, finding 5: each operation that returns a FunctionConfiguration, called by a user allowed
    that operation but not lambda:GetFunctionConfiguration, must not show the variables."""
    env = {"Variables": {"SECRET_TOKEN": "hidden-" + unique("v")}}
    name = unique("masked")
    ops = ["lambda:CreateFunction", "lambda:GetFunction", "lambda:ListFunctions", "lambda:PublishVersion",
           "lambda:ListVersionsByFunction", "lambda:UpdateFunctionCode", "lambda:UpdateFunctionConfiguration"]
    pass_role = {"Effect": "Allow", "Action": "iam:PassRole", "Resource": ROLE}
    _, keys = _user(server, {"Effect": "Allow", "Action": ops, "Resource": "*"}, pass_role)
    _, allowed_keys = _user(server, {"Effect": "Allow", "Action": [*ops, "lambda:GetFunctionConfiguration"],
                                     "Resource": "*"}, pass_role)

    def answers(client: Any, fn: str) -> dict[str, list[dict[str, Any]]]:
        """Every configuration each operation shows (the function has the variables throughout)."""
        out: dict[str, list[dict[str, Any]]] = {}
        out["CreateFunction"] = [client.create_function(
            FunctionName=fn, Runtime="python3.12", Handler="app.handler", Role=ROLE, Environment=env,
            Code={"ZipFile": make_zip({"app.py": ENV_READER})})]
        lam.get_waiter("function_active_v2").wait(FunctionName=fn, WaiterConfig={"Delay": 0.2})
        out["GetFunction"] = [client.get_function(FunctionName=fn)["Configuration"]]
        out["PublishVersion"] = [client.publish_version(FunctionName=fn)]
        out["ListFunctions"] = [f for f in client.list_functions(MaxItems=10000)["Functions"]
                                if f["FunctionName"] == fn]
        out["ListFunctions ALL"] = [f for f in client.list_functions(FunctionVersion="ALL", MaxItems=10000)[
            "Functions"] if f["FunctionName"] == fn]
        out["ListVersionsByFunction"] = client.list_versions_by_function(FunctionName=fn)["Versions"]
        out["GetFunction version"] = [client.get_function(FunctionName=fn, Qualifier="1")["Configuration"]]
        out["UpdateFunctionConfiguration"] = [client.update_function_configuration(FunctionName=fn,
                                                                                    Description="changed")]
        lam.get_waiter("function_updated_v2").wait(FunctionName=fn, WaiterConfig={"Delay": 0.2})
        out["UpdateFunctionCode"] = [client.update_function_code(
            FunctionName=fn, ZipFile=make_zip({"app.py": ENV_READER + "# v2\n"}))]
        return out

    shown = answers(server.client("lambda", **keys), name)
    for op, configs in shown.items():
        assert configs, op
        for cfg in configs:
            assert "Variables" not in cfg["Environment"], (op, cfg["Environment"])
            error = cfg["Environment"]["Error"]
            assert error["ErrorCode"] == "AccessDeniedException", op
            assert "lambda:GetFunctionConfiguration" in error["Message"] and env["Variables"]["SECRET_TOKEN"] not in (
                json.dumps(cfg)), op
    # Allowed GetFunctionConfiguration too: the same operations show the variables.
    seen = answers(server.client("lambda", **allowed_keys), unique("shown"))
    for op, configs in seen.items():
        assert all(cfg["Environment"] == env for cfg in configs), op

# -- audit -------------------------------------------------------------------------------------------

def _audit_events(path: Path, request_id: str) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if path.exists():
            events = [json.loads(line) for line in path.read_text().splitlines() if request_id in line]
            if events:
                return events
        time.sleep(0.05)
    raise AssertionError(f"no audit line for {request_id}")


def test_every_call_is_audited(server: Server, lam: Any) -> None:
    name = create_function(lam, HELLO)
    arn, keys = _user(server)
    with pytest.raises(ClientError) as exc:
        server.client("lambda", **keys).invoke(FunctionName=name)
    denied_id = exc.value.response["ResponseMetadata"]["RequestId"]
    ok_id = lam.invoke(FunctionName=name)["ResponseMetadata"]["RequestId"]
    path = server.data_dir / "audit.log"
    [denied] = _audit_events(path, denied_id)
    assert denied["principal"] == arn and denied["accessKeyId"] == keys["key"]
    assert denied["action"] == "lambda:InvokeFunction" and denied["resource"] == _fn_arn(name)
    assert (denied["status"], denied["outcome"], denied["errorCode"]) == (403, "Failure", "AccessDeniedException")
    assert denied["sourceIp"] == "127.0.0.1" and denied["service"] == "lambda"
    [ok] = _audit_events(path, ok_id)
    assert (ok["principal"], ok["outcome"], ok["errorCode"]) == (f"arn:aws:iam::{ACCOUNT}:root", "Success", None)
    assert path.stat().st_mode & 0o777 == 0o600
    assert keys["secret"] not in path.read_text()

    out = subprocess.run([sys.executable, "-m", "lambdad", "audit", "--data-dir", str(server.data_dir),
                          "--principal", arn.rsplit("/", 1)[1], "--action", "lambda:Invoke*", "--json"],
                         capture_output=True, text=True, timeout=60,
                         env={**os.environ, "PYTHONPATH": os.environ.get("PYTHONPATH", "")})
    assert out.returncode == 0, out.stderr
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    assert [e["requestId"] for e in lines] == [denied_id]
