"""`lambdad` commands: serve, and human conveniences that go through the same public API."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

from lambdad import __version__, config


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="lambdad", description="Self-hosted AWS Lambda-compatible server.")
    parser.add_argument("--version", action="version", version=f"lambdad {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the server in the foreground")
    config.add_arguments(serve)

    doctor = sub.add_parser("doctor", help="show which sandbox protections this host provides")
    config.add_arguments(doctor)

    def client_args(p: argparse.ArgumentParser) -> None:
        p.add_argument("--endpoint-url", default=os.environ.get("LAMBDAD_ENDPOINT_URL"),
                       help="server URL (default http://127.0.0.1:8900, env LAMBDAD_ENDPOINT_URL)")
        p.add_argument("--data-dir", default=os.environ.get("LAMBDAD_DATA_DIR", "./.lambdad"),
                       help="where to find the generated credentials file when AWS_* keys are unset")

    deploy = sub.add_parser("deploy", help="zip a folder and create or update a function from it")
    deploy.add_argument("dir", type=Path)
    deploy.add_argument("--name", required=True)
    deploy.add_argument("--handler", required=True)
    deploy.add_argument("--runtime", default="python3.12")
    deploy.add_argument("--memory", type=int)
    deploy.add_argument("--timeout", type=int)
    deploy.add_argument("--role", default=None)
    client_args(deploy)

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

    args = parser.parse_args(argv)
    return {"serve": cmd_serve, "doctor": cmd_doctor, "deploy": cmd_deploy, "invoke": cmd_invoke,
            "ls": cmd_ls, "logs": cmd_logs}[args.command](args)


def _settings(args: argparse.Namespace) -> config.Config:
    return config.resolve({s.name: getattr(args, s.name, None) for s in config.SETTINGS})


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from lambdad.server import Lambdad

    cfg = _settings(args)
    logging.basicConfig(level=cfg.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not cfg.auth and cfg.host not in ("127.0.0.1", "localhost", "::1"):
        print("lambdad: refusing --auth false on a non-loopback address", file=sys.stderr)
        return 2
    if not cfg.auth:
        logging.getLogger("lambdad").warning("AUTHENTICATION IS OFF: anyone reaching %s:%s can run code",
                                             cfg.host, cfg.port)
    core = Lambdad(cfg)
    print(f"lambdad {__version__} listening on {cfg.endpoint_url} (data in {cfg.data_path})", flush=True)
    if not cfg.root_access_key_id:
        print(f"credentials: AWS_SHARED_CREDENTIALS_FILE={cfg.data_path / 'credentials'}", flush=True)
    server = uvicorn.Server(uvicorn.Config(
        core.app, host=cfg.host, port=cfg.port, loop="uvloop", http="httptools", lifespan="on",
        log_level="warning", access_log=False, timeout_keep_alive=75, timeout_graceful_shutdown=10,
        h11_max_incomplete_event_size=1 << 20,
    ))
    server.run()
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    from lambdad.runtime import sandbox_host

    cfg = _settings(args)
    protections = sandbox_host.probe(cfg)
    print(f"lambdad {__version__} on {os.uname().sysname} {os.uname().release}, euid {os.geteuid()}")
    for line in protections.report_lines():
        print("  " + line)
    if protections.enabled:
        print("  (a running server also reports what each zygote could set up in its log)")
    return 0


# -- client commands ------------------------------------------------------------------------------
def _client(args: argparse.Namespace, service: str = "lambda") -> Any:
    import boto3
    from botocore.config import Config as BotoConfig

    endpoint = args.endpoint_url or "http://127.0.0.1:8900"
    kwargs: dict[str, Any] = {}
    if not os.environ.get("AWS_ACCESS_KEY_ID"):
        cred_file = Path(args.data_dir) / "credentials"
        if cred_file.exists():
            import configparser

            parser = configparser.ConfigParser()
            parser.read(cred_file)
            kwargs = {"aws_access_key_id": parser.get("default", "aws_access_key_id"),
                      "aws_secret_access_key": parser.get("default", "aws_secret_access_key")}
    region = os.environ.get("AWS_DEFAULT_REGION") or os.environ.get("AWS_REGION") or "us-east-1"
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
    print(f"packaging {args.dir} ...", end=" ", flush=True)
    data = make_zip_from_dir(args.dir)
    print(f"{len(data) / 1024:.1f} KiB", flush=True)
    client = _client(args)
    extra: dict[str, Any] = {}
    if args.memory:
        extra["MemorySize"] = args.memory
    if args.timeout:
        extra["Timeout"] = args.timeout
    try:
        try:
            client.get_function(FunctionName=args.name)
            exists = True
        except client.exceptions.ResourceNotFoundException:
            exists = False
        if exists:
            print(f"updating {args.name} ...", flush=True)
            client.update_function_code(FunctionName=args.name, ZipFile=data)
            client.get_waiter("function_updated_v2").wait(FunctionName=args.name,
                                                          WaiterConfig={"Delay": 1})
            client.update_function_configuration(FunctionName=args.name, Handler=args.handler,
                                                 Runtime=args.runtime, **extra)
            client.get_waiter("function_updated_v2").wait(FunctionName=args.name,
                                                          WaiterConfig={"Delay": 1})
        else:
            print(f"creating {args.name} ...", flush=True)
            account = client.get_account_settings and "000000000000"
            role = args.role or f"arn:aws:iam::{account}:role/lambdad-deploy"
            client.create_function(FunctionName=args.name, Runtime=args.runtime, Handler=args.handler,
                                   Role=role, Code={"ZipFile": data}, **extra)
            client.get_waiter("function_active_v2").wait(FunctionName=args.name, WaiterConfig={"Delay": 1})
    except (ClientError, BotoCoreError) as exc:
        return _fail(exc)
    print(f"{args.name} is ready", flush=True)
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
            resp = logs.filter_log_events(**kwargs)
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
    import base64

    return base64.b64encode(f"id:{events[-1]['eventId']}".encode()).decode()


if __name__ == "__main__":
    raise SystemExit(main())
