"""The Python runtime inside an execution environment: init (handler import), then the invoke loop.

Behaves like AWS's Python runtime interface client: the same context object, error payloads
(`Runtime.ImportModuleError`, `Runtime.HandlerNotFound`, `Runtime.UserCodeSyntaxError`, unhandled
exceptions with `stackTrace`), the same log line format for the `logging` module.
"""

import importlib
import json
import logging
import os
import resource
import socket
import sys
import time
import traceback

import frames


class CognitoIdentity(object):
    __slots__ = ("cognito_identity_id", "cognito_identity_pool_id")

    def __init__(self, data=None):
        data = data or {}
        self.cognito_identity_id = data.get("cognitoIdentityId")
        self.cognito_identity_pool_id = data.get("cognitoIdentityPoolId")


class Client(object):
    __slots__ = ("app_package_name", "app_title", "app_version_code", "app_version_name", "installation_id")

    def __init__(self, data):
        self.installation_id = data.get("installation_id")
        self.app_title = data.get("app_title")
        self.app_version_name = data.get("app_version_name")
        self.app_version_code = data.get("app_version_code")
        self.app_package_name = data.get("app_package_name")


class ClientContext(object):
    __slots__ = ("client", "custom", "env")

    def __init__(self, data):
        self.custom = data.get("custom")
        self.env = data.get("env")
        client = data.get("client")
        self.client = Client(client) if client else None


class LambdaContext(object):
    def __init__(self, spec, header):
        self.function_name = spec["function_name"]
        self.function_version = spec["function_version"]
        self.memory_limit_in_mb = str(spec["memory_mb"])
        self.log_group_name = spec["log_group"]
        self.log_stream_name = spec["log_stream"]
        self.aws_request_id = header["id"]
        self.invoked_function_arn = header["arn"]
        self._deadline_ms = header["deadline"]
        self.identity = CognitoIdentity(header.get("identity"))
        cc = header.get("client_context")
        self.client_context = ClientContext(cc) if cc else None
        self.tenant_id = header.get("tenant_id")

    def get_remaining_time_in_millis(self):
        return max(int(self._deadline_ms - time.time() * 1000), 0)

    def __repr__(self):
        return (
            "LambdaContext([aws_request_id={0},log_group_name={1},log_stream_name={2},function_name={3},"
            "memory_limit_in_mb={4},function_version={5},invoked_function_arn={6},client_context={7},"
            "identity={8}])".format(
                self.aws_request_id, self.log_group_name, self.log_stream_name, self.function_name,
                self.memory_limit_in_mb, self.function_version, self.invoked_function_arn,
                self.client_context, self.identity,
            )
        )


_current_request_id = [""]


class _RequestIdFilter(logging.Filter):
    def filter(self, record):
        record.aws_request_id = _current_request_id[0]
        return True


def _setup_logging():
    handler = logging.StreamHandler(sys.stdout)
    formatter = logging.Formatter(
        "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s\n",
        "%Y-%m-%dT%H:%M:%S",
    )
    formatter.converter = time.gmtime
    handler.setFormatter(formatter)
    handler.addFilter(_RequestIdFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.WARNING)


def _error_payload(exc, error_type=None, request_id=""):
    tb = traceback.extract_tb(exc.__traceback__)
    return {
        "errorMessage": str(exc),
        "errorType": error_type or type(exc).__name__,
        "requestId": request_id,
        "stackTrace": traceback.format_list(tb),
    }


def _log_error(payload):
    lines = ["[ERROR] {0}: {1}".format(payload["errorType"], payload["errorMessage"])]
    if payload.get("stackTrace"):
        lines.append("Traceback (most recent call last):")
        lines.extend(s.rstrip("\n") for s in payload["stackTrace"])
    sys.stdout.write("\r".join(lines) + "\n")


def load_handler(handler_string):
    """Import `path/mod.fn` / `pkg.mod.fn`; raise (error_type, message) failures as AWS words them."""
    try:
        module_path, fn_name = handler_string.rsplit(".", 1)
    except ValueError:
        raise _InitError("Runtime.MalformedHandlerName", "Bad handler '{0}': not enough values to unpack "
                         "(expected 2, got 1)".format(handler_string))
    if "/" in module_path:
        directory, _, module_path = module_path.rpartition("/")
        sys.path.insert(0, os.path.join(os.getcwd(), directory))
    module_name = module_path.replace("/", ".")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise _InitError("Runtime.ImportModuleError",
                         "Unable to import module '{0}': {1}".format(module_name, exc))
    except SyntaxError as exc:
        raise _InitError("Runtime.UserCodeSyntaxError", "Syntax error in module '{0}': {1}".format(
            module_name, exc))
    except Exception as exc:
        payload = _error_payload(exc)
        raise _InitError(payload["errorType"], payload["errorMessage"], payload["stackTrace"])
    fn = getattr(module, fn_name, None)
    if fn is None:
        raise _InitError("Runtime.HandlerNotFound",
                         "Handler '{0}' missing on module '{1}'".format(fn_name, module_name))
    return fn


class _InitError(Exception):
    def __init__(self, error_type, message, stack=None):
        Exception.__init__(self, message)
        self.error_type = error_type
        self.message = message
        self.stack = stack or []


def _maxrss_kib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _run_snapshot_hooks(name):
    hooks = sys.modules.get("snapshot_restore_py")
    if hooks is not None and hasattr(hooks, "_lambdad_run"):
        hooks._lambdad_run(name)


def run(spec, channel_fd):
    """Never returns: the environment process exits when the channel closes."""
    sock = socket.socket(fileno=channel_fd)
    rfile = sock.makefile("rb", buffering=1 << 16)
    send = sock.sendall
    env = spec.get("env")
    if env is None:
        # The variables (credentials, the function's secrets) come straight from the server, never
        # through the zygote, whose memory every later environment of any function inherits.
        frame = frames.read_frame(rfile)
        if frame is None or frame[0] != frames.SETUP:
            os._exit(1)
        env = json.loads(frame[1])["env"]
    os.environ.clear()
    os.environ.update(env)
    os.chdir(spec["task_root"])
    # Lambda's order: the task root, then layers (/opt/python...), the runtime's own libraries last.
    sys.path[:0] = spec["path_head"]
    sys.path.extend(spec["path_tail"])

    sys.stdout = open(1, "w", encoding="utf-8", errors="backslashreplace", closefd=False, buffering=1)
    sys.stderr = open(2, "w", encoding="utf-8", errors="backslashreplace", closefd=False, buffering=1)
    _setup_logging()

    t0 = time.perf_counter()
    try:
        handler = load_handler(spec["handler"])
    except _InitError as exc:
        payload = {"errorMessage": exc.message, "errorType": exc.error_type, "requestId": "",
                   "stackTrace": exc.stack}
        _log_error(payload)
        sys.stdout.flush()
        send(frames.pack_json(frames.INIT_ERROR, payload))
        os._exit(1)
    init_ms = (time.perf_counter() - t0) * 1000.0
    send(frames.pack_json(frames.INIT_DONE, {"init_ms": init_ms}))

    invoke_loop(spec, handler, rfile, send)


def invoke_loop(spec, handler, rfile, send):
    dumps = json.dumps
    loads = json.loads
    pack = frames.pack
    u32 = frames.U32.pack
    while True:
        frame = frames.read_frame(rfile)
        if frame is None:
            os._exit(0)
        kind, body = frame
        if kind != frames.INVOKE:
            continue
        header, payload = frames.unpack_invoke(body)
        request_id = header["id"]
        _current_request_id[0] = request_id
        os.environ["_X_AMZN_TRACE_ID"] = header.get("trace", "")
        context = LambdaContext(spec, header)
        kind = frames.RESULT
        try:
            event = loads(payload) if payload else {}
            result = handler(event, context)
        except Exception as exc:
            err = _error_payload(exc, request_id=request_id)
            _log_error(err)
            out = dumps(err).encode()
            kind = frames.ERROR
        else:
            try:
                out = dumps(result).encode()
            except (TypeError, ValueError) as exc:
                err = {"errorMessage": "Unable to marshal response: {0}".format(exc),
                       "errorType": "Runtime.MarshalError", "requestId": request_id, "stackTrace": []}
                _log_error(err)
                out = dumps(err).encode()
                kind = frames.ERROR
        sys.stdout.flush()
        sys.stderr.flush()
        send(pack(kind, u32(_maxrss_kib()) + out))
