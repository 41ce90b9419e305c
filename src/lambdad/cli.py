"""`lambdad` commands: serve, and human conveniences that go through the same public API."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

from lambdad import __version__, aws_profile, config


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="lambdad", description="Self-hosted AWS Lambda-compatible server.")
    parser.add_argument("--version", action="version", version=f"lambdad {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the server in the foreground")
    config.add_arguments(serve)

    doctor = sub.add_parser("doctor", help="show which sandbox protections this host provides and which "
                                           "interpreter runs each runtime")
    config.add_arguments(doctor)

    def client_args(p: argparse.ArgumentParser) -> None:
        p.add_argument("--endpoint-url", default=os.environ.get("LAMBDAD_ENDPOINT_URL"),
                       help="server URL (default: the data dir's, else the AWS profile 'lambdad''s endpoint_url, "
                       "else http://127.0.0.1:8900; env LAMBDAD_ENDPOINT_URL)")
        p.add_argument("--data-dir", default=os.environ.get("LAMBDAD_DATA_DIR", "./.lambdad"),
                       help="where to find the generated credentials file when AWS_* keys are unset "
                       "(none there: the AWS profile 'lambdad', or AWS_PROFILE's)")

    def deploy_args(p: argparse.ArgumentParser) -> None:
        p.add_argument("dir", type=Path)
        p.add_argument("--name", required=True)
        p.add_argument("--handler", required=True)
        p.add_argument("--runtime", default=None, help="runtime identifier (default python3.12 on create; "
                       "unchanged on update)")
        p.add_argument("--memory", type=int)
        p.add_argument("--timeout", type=int)
        p.add_argument("--role", default=None, help="execution role ARN (default "
                       "arn:aws:iam::ACCOUNT:role/lambdad-deploy, ACCOUNT from LAMBDAD_ACCOUNT_ID or 000000000000)")
        p.add_argument("--layer", action="append", dest="layers", metavar="LAYER_VERSION_ARN",
                       help="attach a layer version (repeat for several; later layers win in /opt)")
        client_args(p)

    deploy = sub.add_parser("deploy", help="zip a folder and create or update a function from it")
    deploy_args(deploy)
    deploy.add_argument("--watch", action="store_true", help="then keep the function updated as the folder's "
                        "files change (until Ctrl-C)")
    dev = sub.add_parser("dev", help="deploy a folder, then update the function whenever its files change "
                         "(deploy --watch)")
    deploy_args(dev)

    layer = sub.add_parser("layer", help="share libraries between functions as layers")
    layer_sub = layer.add_subparsers(dest="layer_command", required=True)
    publish = layer_sub.add_parser("publish", help="zip a folder and publish it as a new layer version; prints "
                                   "the layer version ARN")
    publish.add_argument("dir", type=Path, help="its contents appear under /opt (python/, nodejs/, bin/, lib/)")
    publish.add_argument("--name", required=True, help="layer name")
    publish.add_argument("--compatible-runtimes", nargs="+", metavar="RUNTIME")
    publish.add_argument("--compatible-architectures", nargs="+", metavar="ARCH")
    publish.add_argument("--description")
    publish.add_argument("--license-info")
    client_args(publish)
    layer_ls = layer_sub.add_parser("ls", help="list layers and their latest versions")
    client_args(layer_ls)

    invoke = sub.add_parser("invoke", help="invoke a function and print its response")
    invoke.add_argument("name")
    invoke.add_argument("--payload", default="{}", help="JSON text, or @file")
    invoke.add_argument("--log", action="store_true", help="also print the log tail")
    client_args(invoke)

    ls = sub.add_parser("ls", help="list functions")
    client_args(ls)

    logs = sub.add_parser("logs", help="print a function's logs")
    logs.add_argument("name")
    logs.add_argument("--follow", "-f", action="store_true")
    client_args(logs)

    account = sub.add_parser("account", help="accounts of this server (create one, list them)")
    account_sub = account.add_subparsers(dest="account_command", required=True)
    account_create = account_sub.add_parser("create", help="create an account and print its root keys")
    account_create.add_argument("name")
    client_args(account_create)
    client_args(account_sub.add_parser("list", help="list accounts"))

    audit = sub.add_parser("audit", help="print the audit log (every API call: who, what, on what, outcome)")
    audit.add_argument("--follow", "-f", action="store_true", help="keep printing new calls")
    audit.add_argument("--principal", help="caller ARN, its last segment (user or session name), or a glob")
    audit.add_argument("--action", help="IAM action or glob, e.g. lambda:Invoke*")
    audit.add_argument("--json", action="store_true", help="print the JSON lines as stored")
    audit.add_argument("--data-dir", default=os.environ.get("LAMBDAD_DATA_DIR", "./.lambdad"))

    args = parser.parse_args(argv)
    if args.command == "dev":
        args.watch = True
    return {"serve": cmd_serve, "doctor": cmd_doctor, "deploy": cmd_deploy, "dev": cmd_deploy, "invoke": cmd_invoke,
            "ls": cmd_ls, "logs": cmd_logs, "layer": cmd_layer, "account": cmd_account,
            "audit": cmd_audit}[args.command](args)


def _settings(args: argparse.Namespace) -> config.Config:
    return config.resolve({s.name: getattr(args, s.name, None) for s in config.SETTINGS})


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from lambdad.api.app import AsgiApp
    from lambdad.api.http_protocol import protocol_class
    from lambdad.server import Lambdad

    class _Server(uvicorn.Server):
        """Stops the load-balancer listeners together with the API port, so they drain in parallel."""

        def __init__(self, core: Lambdad, config: uvicorn.Config) -> None:
            super().__init__(config)
            self.core = core

        async def startup(self, sockets: Any = None) -> None:
            await super().startup(sockets)
            if self.started:  # listening, the demo function made: say what there is and how to call it
                print(start_banner(cfg, self.core.demo_note, _write_profile(cfg)), flush=True)

        async def shutdown(self, sockets: Any = None) -> None:
            self.core.begin_shutdown()
            await super().shutdown(sockets)

    cfg = _settings(args)
    logging.basicConfig(level=cfg.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not cfg.auth and cfg.host not in ("127.0.0.1", "localhost", "::1"):
        print("lambdad: refusing --auth false on a non-loopback address", file=sys.stderr)
        return 2
    if not cfg.auth:
        logging.getLogger("lambdad").warning("AUTHENTICATION IS OFF: anyone reaching %s:%s can run code",
                                             cfg.host, cfg.port)
    from lambdad.store.datadir import DataDir, DataDirError

    try:  # the process's own claim on its data dir: refused in one line if another server has it
        data_dir = DataDir(cfg.data_path, cfg.disk_reserve_bytes)
    except DataDirError as exc:  # in use by another server, or a full disk
        print(f"lambdad: {exc}", file=sys.stderr)
        return 1
    core = Lambdad(cfg, data_dir)  # builds nothing yet: the ASGI lifespan enters it (server.py)
    server = _Server(core, uvicorn.Config(
        AsgiApp(core), host=cfg.host, port=cfg.port, loop="uvloop", lifespan="on",
        http=protocol_class(cfg.request_read_timeout, cfg.max_header_bytes),
        log_level="warning", access_log=False, proxy_headers=False, server_header=False,
        # uvicorn annotates these seconds as int; it passes them to call_later and wait_for (floats are fine)
        limit_concurrency=cfg.max_connections, timeout_keep_alive=cfg.keep_alive_timeout,  # type: ignore[arg-type]
        timeout_graceful_shutdown=cfg.shutdown_timeout,  # type: ignore[arg-type]
    ))
    # uvicorn re-raises the stop signal once it has shut down gracefully; with these no-op handlers
    # in place that re-raise returns here, so a clean stop exits 0 instead of dying by the signal.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: None)
    try:
        server.run()
    finally:
        data_dir.close()
    if not server.started:  # the lifespan's start failed (the log says why)
        return 1
    print("lambdad stopped", flush=True)
    return 0


def _write_profile(cfg: config.Config) -> aws_profile.ProfileReport | None:
    if not cfg.aws_profile:
        return None
    keys = None
    if not (cfg.root_access_key_id and cfg.root_secret_access_key):  # generated: DATA_DIR/credentials
        generated = _data_dir_keys(cfg.data_path)
        keys = aws_profile.Keys(*generated) if generated else None
    try:
        return aws_profile.write_profiles(cfg.aws_profile, cfg.endpoint_url, cfg.region, cfg.data_path, keys,
                                          os.environ)
    except OSError as exc:
        logging.getLogger("lambdad").warning("could not write the AWS profile: %s", exc)
        return None


def _tool(name: str) -> str:
    """How to call one of this installation's commands: its bare name when PATH finds this one, else its path."""
    import shutil

    own = Path(sys.executable).parent / name
    if not own.exists():
        return name
    found = shutil.which(name)
    return name if found and Path(found).resolve() == own.resolve() else str(own)


def start_banner(cfg: config.Config, demo: str, profile: aws_profile.ProfileReport | None) -> str:
    lines = [f"lambdad {__version__} ready on {cfg.endpoint_url} (data in {cfg.data_path})"]
    if demo:
        lines.append(f"  demo function: {demo}")
    if not (cfg.root_access_key_id and cfg.root_secret_access_key):
        lines.append(f"  root keys:     {cfg.data_path / 'credentials'} (account {cfg.account_id})")
    aws = _tool("aws")
    if profile is not None and profile.home_written:
        where = {"added": "added to", "updated": "updated in"}.get(profile.home, "in")
        lines.append(f"  AWS profile:   {profile.name} (endpoint, region, keys), {where} {profile.home_config} "
                     f"and {profile.home_credentials}")
        prefix = f"{aws} --profile {profile.name}"
    elif profile is not None:
        lines.append(f"  AWS profile:   {profile.name} in {profile.data_config} "
                     f"({profile.home_config}: {profile.home})")
        prefix = f"AWS_CONFIG_FILE={profile.data_config} {aws} --profile {profile.name}"
    else:
        prefix = f"{aws} --endpoint-url {cfg.endpoint_url} --region {cfg.region}"
    function = demo.split(" ", 1)[0] if demo else "NAME"
    lines.append(f"  try:           {prefix} lambda invoke --function-name {function} "
                 f"--payload '{{\"name\": \"you\"}}' out.json && cat out.json")
    lines.append(f"  health:        {cfg.endpoint_url}/_lambdad/health")
    return "\n".join(lines)


def cmd_doctor(args: argparse.Namespace) -> int:
    from lambdad.runtime import sandbox_host

    cfg = _settings(args)
    protections = sandbox_host.probe(cfg)
    print(f"lambdad {__version__} on {os.uname().sysname} {os.uname().release}, euid {os.geteuid()}")
    for line in protections.report_lines():
        print("  " + line)
    if protections.enabled:
        print("  (a running server also reports what each zygote could set up in its log)")
    from lambdad.control.validation import SUPPORTED_RUNTIMES, host_architecture
    from lambdad.runtime.interpreters import Interpreters

    interpreters = Interpreters(cfg.python_interpreters, cfg.node_binary)
    print(f"runtimes (architecture {host_architecture()}, no emulator for the other; a runtime without an "
          "interpreter of its version is refused at CreateFunction):")
    for runtime in SUPPORTED_RUNTIMES:
        print(f"  {runtime:<16} -> {interpreters.resolve(runtime) or 'not available (no interpreter of its version)'}")
    print(host_names_report(cfg))
    return 0


def host_names_report(cfg: config.Config) -> str:
    """Whether this host resolves the names lambdad hands out (`*.lambda-url.<region>.<public-host>`):
    curl resolves any `*.localhost` itself, Python's and Node's getaddrinfo only if the system does."""
    import secrets
    import socket

    name = f"x{secrets.token_hex(4)}.lambda-url.{cfg.region}.{cfg.public_host}"
    try:
        found = sorted({str(info[4][0]) for info in socket.getaddrinfo(name, cfg.port, type=socket.SOCK_STREAM)})
    except (OSError, UnicodeError) as exc:
        base = cfg.endpoint_url
        return (f"host names: {name} does not resolve here ({exc}); Python and Node clients use the path forms "
                f"{base}/_aws/lambda-url/<url-id>/ and {base}/_aws/execute-api/<api-id>/<stage>/ "
                "(curl resolves *.localhost by itself)")
    return f"host names: {name} resolves ({', '.join(found)}): function URL and execute-api host names work"


# -- client commands ------------------------------------------------------------------------------
DEFAULT_ENDPOINT = "http://127.0.0.1:8900"


def _data_dir_keys(data_dir: Path) -> tuple[str, str] | None:
    """The generated root keys in DATA_DIR/credentials, if there are."""
    import configparser

    parser = configparser.ConfigParser()
    try:
        parser.read(data_dir / "credentials")
        return parser.get("default", "aws_access_key_id"), parser.get("default", "aws_secret_access_key")
    except (OSError, configparser.Error):
        return None


def _connection(args: argparse.Namespace) -> tuple[str, str, dict[str, Any]]:
    """(endpoint, region, credential kwargs) of the client commands. Credentials: AWS_ACCESS_KEY_ID, else the
    data dir's generated keys (with the endpoint its aws-config names), else the AWS profile (AWS_PROFILE or
    'lambdad', as `lambdad serve` writes it) with its endpoint_url and region."""
    import configparser

    import botocore.session

    endpoint = args.endpoint_url
    region = os.environ.get("AWS_DEFAULT_REGION") or os.environ.get("AWS_REGION")
    kwargs: dict[str, Any] = {}
    if not os.environ.get("AWS_ACCESS_KEY_ID"):
        data_dir = Path(args.data_dir)
        keys = _data_dir_keys(data_dir)
        if keys is not None:
            kwargs = {"aws_access_key_id": keys[0], "aws_secret_access_key": keys[1]}
            written = configparser.ConfigParser()
            try:
                written.read(data_dir / "aws-config")
            except (OSError, configparser.Error):
                pass
            section = next((name for name in written.sections() if name.startswith("profile ")), None)
            if section is not None:
                endpoint = endpoint or written.get(section, "endpoint_url", fallback=None)
                region = region or written.get(section, "region", fallback=None)
        else:
            profile = os.environ.get("AWS_PROFILE") or "lambdad"
            if profile in botocore.session.Session().available_profiles:
                session = botocore.session.Session(profile=profile)
                scoped = session.get_scoped_config()
                endpoint = endpoint or scoped.get("endpoint_url")
                region = region or scoped.get("region")
                creds = session.get_credentials()
                if creds is not None:
                    kwargs = {"aws_access_key_id": creds.access_key, "aws_secret_access_key": creds.secret_key,
                              "aws_session_token": creds.token}
    return endpoint or DEFAULT_ENDPOINT, region or "us-east-1", kwargs


def _client_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    return _connection(args)[2]


def _client(args: argparse.Namespace, service: str = "lambda") -> Any:
    import boto3
    from botocore.config import Config as BotoConfig

    endpoint, region, kwargs = _connection(args)
    return boto3.client(service, endpoint_url=endpoint, region_name=region,
                        config=BotoConfig(retries={"max_attempts": 1}, read_timeout=910), **kwargs)


def _fail(exc: Exception) -> int:
    print(f"lambdad: {exc}", file=sys.stderr)
    return 1


def cmd_deploy(args: argparse.Namespace) -> int:
    from botocore.exceptions import BotoCoreError, ClientError

    from lambdad.control.codezip import make_zip_from_dir

    if not args.dir.is_dir():
        return _fail(Exception(f"{args.dir} is not a directory"))
    watching = getattr(args, "watch", False)
    skip = None
    if watching:
        from lambdad import watch

        skip = watch.skip_path
        watcher = watch.Watcher(args.dir)  # from before the first upload: no edit is missed
    print(f"packaging {args.dir} ...", end=" ", flush=True)
    data = make_zip_from_dir(args.dir, skip)
    print(f"{len(data) / 1024:.1f} KiB", flush=True)
    client = _client(args)
    try:
        _deploy(client, args, data)
    except (ClientError, BotoCoreError) as exc:
        return _fail(exc)
    print(f"{args.name} is ready", flush=True)
    if not watching:
        return 0
    print(f"watching {args.dir} for changes (Ctrl-C stops)", flush=True)
    try:
        while True:
            changed = watcher.wait_for_change()
            started = time.monotonic()
            shown = ", ".join(changed[:3]) + (f" and {len(changed) - 3} more" if len(changed) > 3 else "")
            try:
                client.update_function_code(FunctionName=args.name, ZipFile=make_zip_from_dir(args.dir, skip))
                client.get_waiter("function_updated_v2").wait(FunctionName=args.name, WaiterConfig={"Delay": 1})
            except (ClientError, BotoCoreError, OSError) as exc:  # keep watching: the next save may fix it
                print(f"{time.strftime('%H:%M:%S')} {shown} changed; update failed: {exc}", file=sys.stderr,
                      flush=True)
                continue
            print(f"{time.strftime('%H:%M:%S')} {shown} changed: {args.name} updated in "
                  f"{(time.monotonic() - started) * 1000:.0f} ms", flush=True)
    except KeyboardInterrupt:
        return 0


def _deploy(client: Any, args: argparse.Namespace, data: bytes) -> None:
    extra: dict[str, Any] = {}
    if args.memory:
        extra["MemorySize"] = args.memory
    if args.timeout:
        extra["Timeout"] = args.timeout
    if args.layers:
        extra["Layers"] = args.layers
    try:
        client.get_function(FunctionName=args.name)
        exists = True
    except client.exceptions.ResourceNotFoundException:
        exists = False
    if exists:
        print(f"updating {args.name} ...", flush=True)
        client.update_function_code(FunctionName=args.name, ZipFile=data)
        client.get_waiter("function_updated_v2").wait(FunctionName=args.name, WaiterConfig={"Delay": 1})
        if args.runtime:
            extra["Runtime"] = args.runtime
        client.update_function_configuration(FunctionName=args.name, Handler=args.handler, **extra)
        client.get_waiter("function_updated_v2").wait(FunctionName=args.name, WaiterConfig={"Delay": 1})
    else:
        print(f"creating {args.name} ...", flush=True)
        role = args.role or _deploy_role(args)
        client.create_function(FunctionName=args.name, Runtime=args.runtime or "python3.12",
                               Handler=args.handler, Role=role, Code={"ZipFile": data}, **extra)
        client.get_waiter("function_active_v2").wait(FunctionName=args.name, WaiterConfig={"Delay": 1})


def _deploy_role(args: argparse.Namespace) -> str:
    """The role `lambdad deploy` gives new functions: lambdad-deploy, created (basic execution) if missing."""
    iam = _client(args, "iam")
    try:
        return iam.get_role(RoleName="lambdad-deploy")["Role"]["Arn"]
    except iam.exceptions.NoSuchEntityException:
        pass
    trust = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
    arn = iam.create_role(RoleName="lambdad-deploy", AssumeRolePolicyDocument=trust)["Role"]["Arn"]
    iam.attach_role_policy(RoleName="lambdad-deploy",
                           PolicyArn="arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole")
    return arn


def cmd_account(args: argparse.Namespace) -> int:
    """Accounts are managed by the server's own root through /_lambdad/accounts (SigV4-signed)."""
    import botocore.session
    import httpx
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    endpoint, region, keys = _connection(args)
    endpoint = endpoint.rstrip("/")
    session = botocore.session.get_session()
    creds = (Credentials(keys["aws_access_key_id"], keys["aws_secret_access_key"], keys.get("aws_session_token"))
             if keys else session.get_credentials())
    if creds is None:
        return _fail(Exception("no credentials: set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or --data-dir"))
    creating = args.account_command == "create"
    body = json.dumps({"Name": args.name}).encode() if creating else b""
    request = AWSRequest("POST" if creating else "GET", f"{endpoint}/_lambdad/accounts", data=body,
                         headers={"content-type": "application/json"} if creating else {})
    SigV4Auth(creds, "lambdad", region).add_auth(request)
    try:
        resp = httpx.request(request.method, request.url, content=body, headers=dict(request.headers.items()),
                             timeout=30)
    except httpx.HTTPError as exc:
        return _fail(exc)
    data = resp.json() if resp.content else {}
    if resp.status_code != 200:
        return _fail(Exception(data.get("message") or data.get("Message") or resp.text))
    if creating:
        print(f"# account {data['AccountId']} ({data['Name']}): its root keys, shown once")
        print(f"[{data['Name']}]\naws_access_key_id = {data['AccessKeyId']}\n"
              f"aws_secret_access_key = {data['SecretAccessKey']}\nregion = {region}")
        return 0
    for item in data["Accounts"]:
        print(f"{item['AccountId']}  {item.get('Name', '')}")
    return 0


def cmd_audit(args: argparse.Namespace) -> int:
    from lambdad.api import audit

    path = Path(args.data_dir) / "audit.log"
    if not path.exists() and not args.follow:
        return _fail(Exception(f"no audit log at {path}"))
    try:
        for event in audit.read(path, follow=args.follow):
            if audit.matches(event, args.principal, args.action):
                print(json.dumps(event) if args.json else audit.format_event(event), flush=True)
    except KeyboardInterrupt:
        return 0
    return 0


LAYER_DIRS = ("python", "nodejs", "bin", "lib")


def cmd_layer(args: argparse.Namespace) -> int:
    from botocore.exceptions import BotoCoreError, ClientError

    client = _client(args)
    if args.layer_command == "ls":
        try:
            pages = client.get_paginator("list_layers").paginate()
            layers = [item for page in pages for item in page["Layers"]]
        except (ClientError, BotoCoreError) as exc:
            return _fail(exc)
        print(f"{'NAME':<32} {'VERSION':>7}  {'RUNTIMES':<30} LAYER VERSION ARN")
        for item in layers:
            latest = item["LatestMatchingVersion"]
            runtimes = ",".join(latest.get("CompatibleRuntimes") or []) or "-"
            print(f"{item['LayerName']:<32} {latest['Version']:>7}  {runtimes:<30} {latest['LayerVersionArn']}")
        return 0

    from lambdad.control.codezip import make_zip_from_dir

    if not args.dir.is_dir():
        return _fail(Exception(f"{args.dir} is not a directory"))
    if not any((args.dir / sub).is_dir() for sub in LAYER_DIRS):
        print(f"note: {args.dir} has none of {', '.join(d + '/' for d in LAYER_DIRS)} at its top; its files will "
              "be under /opt as they are, outside the paths runtimes search", file=sys.stderr)
    data = make_zip_from_dir(args.dir)
    print(f"packaged {args.dir}: {len(data) / 1024:.1f} KiB", file=sys.stderr, flush=True)
    params: dict[str, Any] = {"LayerName": args.name, "Content": {"ZipFile": data}}
    for key, value in (("CompatibleRuntimes", args.compatible_runtimes),
                       ("CompatibleArchitectures", args.compatible_architectures),
                       ("Description", args.description), ("LicenseInfo", args.license_info)):
        if value is not None:
            params[key] = value
    try:
        resp = client.publish_layer_version(**params)
    except (ClientError, BotoCoreError) as exc:
        return _fail(exc)
    print(f"published {args.name} version {resp['Version']}", file=sys.stderr)
    print(resp["LayerVersionArn"], flush=True)  # stdout: the one thing scripts capture
    return 0


def cmd_invoke(args: argparse.Namespace) -> int:
    import base64

    from botocore.exceptions import BotoCoreError, ClientError

    payload = args.payload
    if payload.startswith("@"):
        payload = Path(payload[1:]).read_text()
    try:
        json.loads(payload)
    except ValueError as exc:
        return _fail(Exception(f"--payload is not JSON: {exc}"))
    try:
        resp = _client(args).invoke(FunctionName=args.name, Payload=payload.encode(),
                                    LogType="Tail" if args.log else "None")
    except (ClientError, BotoCoreError) as exc:
        return _fail(exc)
    if args.log and resp.get("LogResult"):
        sys.stderr.write(base64.b64decode(resp["LogResult"]).decode(errors="replace"))
    print(resp["Payload"].read().decode(errors="replace"))
    return 1 if resp.get("FunctionError") else 0


def cmd_ls(args: argparse.Namespace) -> int:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        pages = _client(args).get_paginator("list_functions").paginate()
        rows = [fn for page in pages for fn in page["Functions"]]
    except (ClientError, BotoCoreError) as exc:
        return _fail(exc)
    print(f"{'NAME':<32} {'RUNTIME':<14} {'MEMORY':>6} {'TIMEOUT':>7}  LAST MODIFIED")
    for fn in rows:
        print(f"{fn['FunctionName']:<32} {fn.get('Runtime', ''):<14} {fn['MemorySize']:>6} {fn['Timeout']:>7}  "
              f"{fn['LastModified']}")
    return 0


def cmd_logs(args: argparse.Namespace) -> int:
    from botocore.exceptions import BotoCoreError, ClientError

    logs = _client(args, "logs")
    group = f"/aws/lambda/{args.name}"
    token = None
    try:
        while True:
            kwargs: dict[str, Any] = {"logGroupName": group}
            if token:
                kwargs["nextToken"] = token
            try:
                resp = logs.filter_log_events(**kwargs)
            except ClientError as exc:  # following a function that has not logged yet: its group comes
                if not args.follow or exc.response["Error"]["Code"] != "ResourceNotFoundException":
                    raise
                resp = {"events": []}
            for event in resp["events"]:
                print(event["message"], flush=True)
            token = resp.get("nextToken") or (
                _last_token(resp["events"]) if resp["events"] else token)
            if not args.follow:
                if resp.get("nextToken"):
                    continue
                return 0
            time.sleep(1.0)
    except KeyboardInterrupt:
        return 0
    except (ClientError, BotoCoreError) as exc:
        return _fail(exc)


def _last_token(events: list[dict[str, Any]]) -> str:
    # lambdad's FilterLogEvents tokens are event positions, the same digits as the event's eventId.
    return str(events[-1]["eventId"])


if __name__ == "__main__":
    raise SystemExit(main())
