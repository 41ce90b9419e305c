"""A property-based fuzzer of every operation of every service lambdad serves (issue 12, finding 16).

    python -m benchmarks.fuzz --requests 20000          # prints requests sent, 5xx count, fd/RSS growth

Requests come from botocore's own models (the ones lambdad serves from): for each operation, input
generated from its input shape with random type, size and nesting mutations (wrong JSON types, huge
and out-of-range integers, missing required members, deep nesting, JSON documents inside strings),
serialized by botocore's serializer for the protocol (rest-json, AWS JSON, query) with validation off,
and SigV4-signed with the root credentials; some unsigned or badly signed; plus raw garbage (random
methods, paths, targets, headers and bodies). The property: no 5xx, the server keeps answering its
health endpoint, and its descriptors and resident memory stay within a bound.

Side effects are bounded: the server it drives is its own (temp data dir, loopback), started with a low
account concurrency and a short idle timeout; generated names rarely name anything, and the few
identifiers it seeds (a function, a queue, a topic, a load balancer with a listener and a rule) let
operations reach real code paths. Listeners it creates bind the server's own loopback host only.
`tests/test_fuzz.py` runs it derandomized (the same requests every run).
"""

from __future__ import annotations

import argparse
import base64
import copy
import json
import os
import shutil
import socket
import string
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import botocore.session
import httpx
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest, prepare_request_dict
from botocore.credentials import Credentials
from botocore.model import OperationModel, ServiceModel, Shape
from botocore.serialize import create_serializer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

REGION = "us-east-1"
MAX_SHAPE_DEPTH = 6
HEALTH_EVERY = 50
# How lambdad answers an operation it does not implement, per protocol.
_UNIMPLEMENTED = ("InvalidAction", "UnknownOperation", "not implemented by this lambdad server",
                  "not supported by this lambdad server")


def _unimplemented_s3(svc: Service, response: httpx.Response) -> bool:
    """S3 answers an operation it does not implement 501 NotImplemented (its documented code for
    functionality it lacks): a truthful answer, not a failure of the server."""
    return (svc.signing_name == "s3" and response.status_code == 501
            and b"<Code>NotImplemented</Code>" in response.content)


@dataclass(frozen=True)
class Service:
    label: str  # e.g. "sqs-query"
    model: ServiceModel
    protocol: str
    signing_name: str
    # The operations to fuzz when not all of the model's (EC2's has some 750; lambdad serves a few dozen).
    only: frozenset[str] | None = None

    @property
    def operation_names(self) -> list[str]:
        names = self.model.operation_names
        return [n for n in names if n in self.only] if self.only is not None else list(names)


def services() -> list[Service]:
    """What lambdad serves, from the models it serves them from (SQS both ways)."""
    session = botocore.session.get_session()
    out = []
    for name, signing in (("lambda", "lambda"), ("sqs", "sqs"), ("sns", "sns"), ("iam", "iam"), ("sts", "sts"),
                          ("elbv2", "elasticloadbalancing"), ("logs", "logs"),
                          ("events", "events"), ("scheduler", "scheduler"), ("kms", "kms"),
                          ("dynamodb", "dynamodb"), ("cloudwatch", "monitoring")):
        model = session.get_service_model(name)
        out.append(Service(name, model, model.metadata["protocol"], signing))
    from lambdad.services.ec2.wire import SERVED

    ec2 = session.get_service_model("ec2")
    out.append(Service("ec2", ec2, "ec2", "ec2", SERVED | {"RunInstances", "CreateVpcEndpoint"}))
    from lambdad.services.sqs.wire import _models  # the SQS model with the query protocol's wire names

    out.append(Service("sqs-query", _models()[1], "query", "sqs"))
    cloudwatch = session.get_service_model("cloudwatch")  # smithy-rpc-v2-cbor above; boto3 itself sends JSON
    out.append(Service("cloudwatch-json", cloudwatch, "json", "monitoring"))
    s3 = session.get_service_model("s3")  # rest-xml
    out.append(Service("s3", s3, s3.metadata["protocol"], "s3"))
    for name in ("apigatewayv2", "apigateway"):  # both API Gateway management APIs sign as `apigateway`
        model = session.get_service_model(name)
        out.append(Service(name, model, model.metadata["protocol"], "apigateway"))
    return out


# -- values -------------------------------------------------------------------------------------------

def nested_json(depth: int) -> str:
    return "[" * depth + "]" * depth


@dataclass
class Values:
    """Strategies for the values of shapes, mixing valid values, known identifiers and mutations."""

    known: list[str] = field(default_factory=list)
    _cache: dict[tuple[str, int, bool], st.SearchStrategy[Any]] = field(default_factory=dict)
    _inputs: dict[tuple[str, bool], st.SearchStrategy[Any]] = field(default_factory=dict)

    def request_input(self, shape: Shape | None, mutate: bool) -> st.SearchStrategy[Any]:
        """An operation's whole input, built once per input shape: hypothesis then reuses the strategy
        (and what it learnt drawing from it) across examples instead of building it again each draw."""
        if shape is None:
            return st.just({})
        key = (_identity(shape), mutate)
        if key not in self._inputs:
            self._inputs[key] = self.valid(shape, 0, mutate)
        return self._inputs[key]

    def wrong(self) -> st.SearchStrategy[Any]:
        return st.one_of(
            st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False),
            st.text(max_size=8), st.lists(st.integers(), max_size=3),
            st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
            st.integers(30, 3000).map(lambda n: json.loads(nested_json(n)) if n < 900 else nested_json(n)))

    def strings(self, shape: Shape) -> st.SearchStrategy[str]:
        options: list[st.SearchStrategy[str]] = [
            st.text(max_size=30), st.text(string.ascii_letters + string.digits + "-_:/.$*", max_size=40),
            st.sampled_from(self.known or [""]), st.sampled_from(self.known or [""]),  # weighted: reach handlers
            st.sampled_from([*self.known, "", " ", "*", "$LATEST", "1", "arn:aws:lambda:us-east-1:000000000000:fn",
                             '{"a": 1}', "[]", "null", '{"Statement": []}', nested_json(5000), "%00", "\u0000",
                             "A" * 5000]),
        ]
        if shape.enum:
            options.append(st.sampled_from(shape.enum))
        return st.one_of(*options)

    def for_shape(self, shape: Shape, depth: int = 0, mutate: bool = True) -> st.SearchStrategy[Any]:
        """A member's value: valid for its shape, or (when mutating) sometimes of another type entirely."""
        key = (_identity(shape), depth, mutate)
        if key not in self._cache:
            valid = self.valid(shape, depth, mutate)
            self._cache[key] = st.one_of(valid, valid, self.wrong()) if mutate else valid
        return self._cache[key]

    def valid(self, shape: Shape, depth: int = 0, mutate: bool = True) -> st.SearchStrategy[Any]:
        t = shape.type_name
        if depth > MAX_SHAPE_DEPTH:
            return st.none()
        if t == "structure":
            members = {name: st.deferred(lambda m=member: self.for_shape(m, depth + 1, mutate))
                       for name, member in shape.members.items()}
            if mutate:  # any member may be missing, required ones included
                return st.fixed_dictionaries({}, optional=members)
            required = {name: members[name] for name in shape.required_members if name in members}
            return st.fixed_dictionaries(required, optional={k: v for k, v in members.items() if k not in required})
        if t == "list":
            return st.lists(st.deferred(lambda: self.for_shape(shape.member, depth + 1, mutate)), max_size=4)
        if t == "map":
            return st.dictionaries(self.strings(shape.key),
                                   st.deferred(lambda: self.for_shape(shape.value, depth + 1, mutate)), max_size=3)
        if t == "string":
            return self.strings(shape)
        if t in ("integer", "long"):
            return st.one_of(st.sampled_from([0, 1, -1]), st.integers(-3, 100), st.integers(),
                             st.integers(2**31 - 2, 2**64))
        if t in ("float", "double"):
            return st.floats(allow_nan=False, allow_infinity=False)
        if t == "boolean":
            return st.booleans()
        if t == "blob":
            return st.one_of(st.binary(max_size=64), st.just(b"PK\x03\x04" + bytes(40)))
        if t == "timestamp":
            return st.one_of(st.integers(0, 2**33), st.just(datetime(2024, 1, 1, tzinfo=UTC)))
        return st.none()


def _identity(shape: Shape) -> str:
    """A cache key for a shape's strategy: services reuse names for different shapes ("Queues" is a list
    of ARNs in Lambda, a list of URLs in SQS), and a strategy cached under the other one's name makes the
    same draws generate different data from run to run (hypothesis: FlakyStrategyDefinition)."""
    t = shape.type_name
    if t == "structure":
        inner = ",".join(f"{k}:{m.name}:{m.type_name}" for k, m in shape.members.items())
    elif t == "list":
        inner = f"{shape.member.name}:{shape.member.type_name}"
    elif t == "map":
        inner = f"{shape.key.name}:{shape.value.name}:{shape.value.type_name}"
    else:
        inner = json.dumps(shape.metadata, sort_keys=True, default=str)
    return f"{shape.name}|{t}|{inner}"


# -- requests -----------------------------------------------------------------------------------------

@dataclass
class Request:
    method: str
    path: str  # with the query string
    headers: dict[str, str]
    body: bytes


def serialize(svc: Service, op: OperationModel, params: dict[str, Any], endpoint: str) -> Request | None:
    serializer = create_serializer(svc.protocol, include_validation=False)
    try:
        req = serializer.serialize_to_request(copy.deepcopy(params), op)
        prepare_request_dict(req, endpoint)
    except Exception:  # a mutation botocore cannot even write down (JSON protocols send it raw instead)
        return None
    url = urlsplit(req["url"])
    body = req["body"]
    if isinstance(body, str):
        body = body.encode()
    elif isinstance(body, dict):  # a query-protocol body botocore leaves for its HTTP layer to encode
        body = urlencode(body, doseq=True).encode()
    elif body is None:
        body = b""
    elif not isinstance(body, bytes | bytearray):  # a blob payload given another type: sent as its text
        body = str(body).encode()
    path = url.path + (f"?{url.query}" if url.query else "")
    headers = {k: str(v) for k, v in req["headers"].items()}
    if svc.protocol in ("query", "ec2"):
        headers.setdefault("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
    return Request(req["method"], path, headers, bytes(body))


_INDEXES = ["1", "2", "0", "-1", "01", "\u00b2", "\uff11", "1" * 5000, "99999999999", "", "x"]
_SEGMENTS = ["member", "entry", "key", "value", "Name", "Value", "Key", "", "x"]


def _key_paths(shape: Shape, depth: int = 0) -> st.SearchStrategy[list[str]]:
    """Flattened-key paths that follow `shape` (member names, `member`/`entry` and an index, often an
    odd one) and then sometimes stray off it."""
    stray = st.lists(st.sampled_from(_SEGMENTS + _INDEXES), max_size=2)
    if depth > 4:
        return stray
    t = shape.type_name
    if t == "structure" and shape.members:
        def below(item: tuple[str, Shape]) -> st.SearchStrategy[list[str]]:
            wire = item[1].serialization.get("name") or item[0]
            return _key_paths(item[1], depth + 1).map(lambda rest: [wire, *rest])

        return st.sampled_from(sorted(shape.members.items())).flatmap(below)
    if t in ("list", "map"):
        inner = shape.member if t == "list" else shape.value
        word = (shape.member.serialization.get("name") or "member") if t == "list" else "entry"
        tail = _key_paths(inner, depth + 1) if t == "list" else st.sampled_from([["key"], ["value"], ["Name"]])
        prefix = st.just([]) if shape.serialization.get("flattened") else st.just([word])
        return st.tuples(prefix, st.sampled_from(_INDEXES), tail).map(lambda p: [*p[0], p[1], *p[2]])
    return stray


def query_pairs(shape: Shape) -> st.SearchStrategy[list[tuple[str, str]]]:
    """Extra query-protocol pairs along the operation's input shape."""
    key = _key_paths(shape).map(".".join)
    return st.lists(st.tuples(key, st.text(max_size=12)), max_size=4)


def raw_json(svc: Service, op: OperationModel, params: Any) -> Request:
    """A JSON-protocol request botocore would not write (e.g. a structure given as a string)."""
    prefix = svc.model.metadata.get("targetPrefix", "")
    version = svc.model.metadata.get("jsonVersion", "1.0")
    body = json.dumps(params, default=lambda o: base64.b64encode(o).decode() if isinstance(o, bytes) else str(o))
    return Request("POST", "/", {"X-Amz-Target": f"{prefix}.{op.name}",
                                 "Content-Type": f"application/x-amz-json-{version}"}, body.encode())


_HEADER_TEXT = st.text(string.ascii_letters + string.digits + " -_.:/;=,+*", max_size=40)


def garbage(services_: list[Service]) -> st.SearchStrategy[tuple[Service, Request]]:
    targets = [f"{s.model.metadata.get('targetPrefix', 'X')}.{o}" for s in services_ for o in s.operation_names
               if s.protocol == "json"]
    paths = st.one_of(
        st.text(string.ascii_letters + string.digits + "/%-_.~?=&+$", max_size=60).map(lambda p: "/" + p),
        st.sampled_from(["/2015-03-31/functions/", "/2015-03-31/functions/%ZZ/invocations", "/2015-03-31/functions/a"
                         "/invocations", "/2018-10-31/layers/x/versions", "/_lambdad/health", "/_lambdad/accounts",
                         "/_lambdad/code/x.zip", "/000000000000/q", "/" + "a/" * 500, "/?Action=ListUsers"]))
    bodies = st.one_of(st.binary(max_size=200), st.text(max_size=200).map(str.encode),
                       st.sampled_from([b"{", b"[]", b"null", b'{"a":', nested_json(20000).encode(),
                                        b"Action=ListQueues&Version=2012-11-05", b"\xff\xfe",
                                        b"Action=" + b"A" * 5000]))
    headers = st.dictionaries(
        st.sampled_from(["X-Amz-Target", "Content-Type", "X-Amz-Invocation-Type", "X-Amz-Log-Type",
                         "X-Amz-Client-Context", "X-Amz-Date", "X-Amz-Security-Token", "Content-Encoding",
                         "X-Amz-Content-SHA256", "Host", "Expect", "Transfer-Encoding-X"]),
        st.one_of(_HEADER_TEXT, st.sampled_from(targets)), max_size=4)
    return st.builds(lambda s, m, p, h, b: (s, Request(m, p, h, b)), st.sampled_from(services_),
                     st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"]), paths, headers,
                     bodies)


# -- the target ---------------------------------------------------------------------------------------

def fd_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


@dataclass
class Stats:
    requests: int = 0
    server_errors: int = 0
    by_status: dict[int, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)  # the first few 5xx, described


_MODES = st.sampled_from(["signed"] * 7 + ["unsigned", "badsig", "garbage"])
_SIGNINGS = st.sampled_from(["signed", "unsigned", "badsig"])


class Fuzzer:
    def __init__(self, endpoint: str, pid: int, access_key: str, secret_key: str, known: list[str]) -> None:
        self.endpoint = endpoint
        self.pid = pid
        self.credentials = Credentials(access_key, secret_key)
        self.bad_credentials = Credentials(access_key, "not-the-secret")
        self.services = services()
        self.values = Values(known)
        self.client = httpx.Client(base_url=endpoint, timeout=60)
        self.stats = Stats()
        self.operations = [(svc, svc.model.operation_model(name)) for svc in self.services
                           for name in svc.operation_names]
        self.implemented = self.operations
        # Strategies built once, not on every draw (each costs more to build than a request to send).
        self._garbage = garbage(self.services)
        self._query_pairs: dict[str, st.SearchStrategy[list[tuple[str, str]]]] = {}

    def probe(self) -> None:
        """Learn which operations the server implements (one plain request each), so most generated
        requests go to code that exists rather than to 'not implemented' answers."""
        implemented = []
        for svc, op in self.operations:
            shape = op.input_shape
            params = {} if shape is None else {
                name: 1 if member.type_name in ("integer", "long") else "x"
                for name, member in shape.members.items() if member.serialization.get("location") == "uri"}
            request = serialize(svc, op, params, self.endpoint)
            if request is None:
                continue
            response = self.send(svc, request, "signed")
            text = response.text if response is not None else ""
            if not any(marker in text for marker in _UNIMPLEMENTED):
                implemented.append((svc, op))
        self.implemented = implemented or self.operations

    def close(self) -> None:
        self.client.close()

    def send(self, svc: Service, request: Request, signing: str) -> httpx.Response | None:
        host = urlsplit(self.endpoint).netloc
        # The length is the body's (a model's ContentLength member would otherwise declare another).
        headers = {"Host": host, **{k: v for k, v in request.headers.items()
                                    if k.lower() not in ("host", "content-length")}}
        if signing != "unsigned":
            aws = AWSRequest(method=request.method, url=self.endpoint + request.path, data=request.body,
                             headers=headers)
            creds = self.credentials if signing == "signed" else self.bad_credentials
            SigV4Auth(creds, svc.signing_name, REGION).add_auth(aws)
            headers = dict(aws.headers.items())
        try:
            response = self.client.request(request.method, request.path, content=request.body, headers=headers)
        except (httpx.LocalProtocolError, UnicodeEncodeError):
            return None  # a header HTTP itself cannot carry (a newline, trailing space): never sent
        except httpx.InvalidURL:
            return None  # a path longer than a URL may be (httpx refuses 64 KB): never sent
        self.stats.requests += 1
        self.stats.by_status[response.status_code] = self.stats.by_status.get(response.status_code, 0) + 1
        if response.status_code >= 500 and not _unimplemented_s3(svc, response):
            self.stats.server_errors += 1
            if len(self.stats.failures) < 20:
                self.stats.failures.append(f"{response.status_code} {svc.label} {request.method} {request.path[:120]} "
                                           f"{request.headers} {request.body[:300]!r} -> {response.text[:300]}")
        if self.stats.requests % HEALTH_EVERY == 0:
            self.check_health()
        return response

    def check_health(self) -> None:
        response = self.client.get("/_lambdad/health")
        if response.status_code != 200:
            raise AssertionError(f"health answered {response.status_code} after {self.stats.requests} requests")

    def one(self, data: st.DataObject) -> httpx.Response | None:
        """Draw and send one request."""
        mode = data.draw(_MODES, label="mode")
        if mode == "garbage":
            svc, request = data.draw(self._garbage, label="garbage")
            return self.send(svc, request, data.draw(_SIGNINGS))
        every = data.draw(st.integers(0, 9), label="any operation") == 0  # mostly the implemented ones
        svc, op = data.draw(st.sampled_from(self.operations if every else self.implemented), label="operation")
        shape = op.input_shape
        # Half the requests are well-typed with their required members (they reach the handlers), half
        # carry mutations (they exercise the codecs' validation).
        mutate = data.draw(st.booleans(), label="mutate")
        params = data.draw(self.values.request_input(shape, mutate), label="input")
        request = serialize(svc, op, params, self.endpoint)
        if request is not None and svc.protocol in ("query", "ec2") and mutate and shape is not None:
            # Flattened keys botocore would never write: odd indexes ('0', '²', 5,000 digits), unknown parts.
            pairs = self._query_pairs.get(_identity(shape))
            if pairs is None:
                pairs = self._query_pairs[_identity(shape)] = query_pairs(shape)
            extra = data.draw(pairs, label="query pairs")
            if extra:
                request.body += b"&" + urlencode(extra).encode()
        if request is None:
            if svc.protocol != "json":
                return None
            request = raw_json(svc, op, params)
        return self.send(svc, request, mode)


def seed(endpoint: str, access_key: str, secret_key: str, role_arn: str) -> list[str]:
    """A few real resources for generated requests to name (function, queue, topic, load balancer...)."""
    import boto3
    from botocore.config import Config

    def client(name: str) -> Any:
        return boto3.client(name, endpoint_url=endpoint, region_name=REGION, aws_access_key_id=access_key,
                            aws_secret_access_key=secret_key, config=Config(retries={"max_attempts": 0}))

    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("app.py", "def handler(event, context):\n    return {'ok': 1}\n")
    lam = client("lambda")
    fn = lam.create_function(FunctionName="fuzz-fn", Runtime="python3.12", Handler="app.handler", Role=role_arn,
                             Code={"ZipFile": buf.getvalue()})["FunctionArn"]
    lam.get_waiter("function_active_v2").wait(FunctionName="fuzz-fn", WaiterConfig={"Delay": 0.2})
    queue = client("sqs").create_queue(QueueName="fuzz-q")["QueueUrl"]
    attributes = client("sqs").get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]
    queue_arn = attributes["QueueArn"]
    topic = client("sns").create_topic(Name="fuzz-t")["TopicArn"]
    elbv2 = client("elbv2")
    tg = elbv2.create_target_group(Name="fuzz-tg", TargetType="lambda")["TargetGroups"][0]["TargetGroupArn"]
    lb = elbv2.create_load_balancer(Name="fuzz-lb")["LoadBalancers"][0]["LoadBalancerArn"]
    # One listener on a free loopback port (lambdad binds listeners on its own host), with one rule.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    forward = [{"Type": "forward", "TargetGroupArn": tg}]
    listener = elbv2.create_listener(LoadBalancerArn=lb, Protocol="HTTP", Port=port,
                                     DefaultActions=forward)["Listeners"][0]["ListenerArn"]
    rule = elbv2.create_rule(ListenerArn=listener, Priority=10, Actions=forward, Conditions=[
        {"Field": "path-pattern", "Values": ["/x"]}])["Rules"][0]["RuleArn"]
    s3 = client("s3")
    s3.create_bucket(Bucket="fuzz-bkt")
    s3.put_object(Bucket="fuzz-bkt", Key="fuzz-key", Body=b"fuzz")
    return ["fuzz-fn", fn, role_arn, queue, queue_arn, topic, tg, lb, listener, rule, "/aws/lambda/fuzz-fn",
            "fuzz-q", "fuzz-t", role_arn.rsplit("/", 1)[1], "fuzz-bkt", "fuzz-key"]


def run(fuzzer: Fuzzer, requests: int, *, derandomize: bool, seed_value: int | None = None,
        strict: bool = False) -> Stats:
    """Send about `requests` generated requests. strict: the first 5xx fails (hypothesis then shrinks it)."""

    @settings(max_examples=requests, derandomize=derandomize, deadline=None, database=None,
              suppress_health_check=list(HealthCheck), phases=None if strict else ["generate"],
              print_blob=False)
    @given(st.data())
    def fuzz(data: st.DataObject) -> None:
        response = fuzzer.one(data)
        if strict and response is not None and response.status_code >= 500:
            raise AssertionError(f"{response.status_code}: {response.text[:500]}")

    if seed_value is not None:
        from hypothesis import seed as hypothesis_seed

        fuzz = hypothesis_seed(seed_value)(fuzz)
    fuzz()
    fuzzer.check_health()
    return fuzzer.stats


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.fuzz", description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=5000, help="generated requests to send (default 5000)")
    parser.add_argument("--seed", type=int, default=None, help="hypothesis seed (default: derandomized)")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (server log)")
    args = parser.parse_args(argv)
    from benchmarks.server import ACCESS_KEY, ROLE, SECRET_KEY, LambdadServer

    workdir = Path(tempfile.mkdtemp(prefix="lambdad-fuzz-"))
    server = LambdadServer(workdir, {"account_concurrency": "20", "idle_timeout": "5"}).start()
    try:
        known = seed(server.endpoint, ACCESS_KEY, SECRET_KEY, ROLE)
        fuzzer = Fuzzer(server.endpoint, server.pid, ACCESS_KEY, SECRET_KEY, known)
        fuzzer.probe()
        print(f"operations: {len(fuzzer.implemented)} implemented of {len(fuzzer.operations)}")
        fds, rss = fd_count(server.pid), rss_kb(server.pid)
        started = time.monotonic()
        stats = run(fuzzer, args.requests, derandomize=args.seed is None, seed_value=args.seed)
        elapsed = time.monotonic() - started
        print(f"requests sent: {stats.requests}")
        print(f"5xx responses: {stats.server_errors}")
        print(f"statuses: {dict(sorted(stats.by_status.items()))}")
        print(f"server fds: {fds} -> {fd_count(server.pid)}; VmRSS: {rss // 1024} -> {rss_kb(server.pid) // 1024} MB; "
              f"{elapsed:.0f} s")
        for failure in stats.failures:
            print("  " + failure)
        fuzzer.close()
        return 1 if stats.server_errors else 0
    finally:
        server.stop()
        if args.keep:
            print(f"kept {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
