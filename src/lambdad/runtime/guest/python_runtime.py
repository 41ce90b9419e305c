"""The Python runtime inside an execution environment: init (handler import), then the invoke loop.

Behaves like AWS's Python runtime interface client: the same context object, error payloads
(`Runtime.ImportModuleError`, `Runtime.HandlerNotFound`, `Runtime.UserCodeSyntaxError`, unhandled
exceptions with `stackTrace`), the same log line format for the `logging` module.
"""

import decimal
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
import snapshot_restore_py  # noqa: F401  (loaded here so every environment can import it, as on Lambda)
import template


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


# LoggingConfig.ApplicationLogLevel (AWS_LAMBDA_LOG_LEVEL) as Python levels; TRACE is below DEBUG.
_LEVELS = {"TRACE": 5, "DEBUG": logging.DEBUG, "INFO": logging.INFO, "WARN": logging.WARNING,
           "ERROR": logging.ERROR, "FATAL": logging.CRITICAL}
# What a LogRecord carries of its own: anything else was passed with `extra=` and joins the JSON line.
_RECORD_KEYS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime",
                                                                                  "aws_request_id"}


def _utc_stamp(created):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created)) + "Z"


class _JsonFormatter(logging.Formatter):
    """Lambda's JSON log line for the logging module (LoggingConfig.LogFormat JSON)."""

    def format(self, record):
        out = {"timestamp": _utc_stamp(record.created), "level": record.levelname,
               "message": record.getMessage(), "logger": record.name,
               "requestId": getattr(record, "aws_request_id", "")}
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            out["errorType"] = type(exc).__name__
            out["errorMessage"] = str(exc)
            out["stackTrace"] = traceback.format_list(traceback.extract_tb(record.exc_info[2]))
        out["location"] = "{0}:{1}:{2}".format(record.pathname, record.funcName, record.lineno)
        for key, value in vars(record).items():
            if key not in _RECORD_KEYS and key not in out:
                out[key] = value
        return json.dumps(out, default=str)


def _json_logs():
    return os.environ.get("AWS_LAMBDA_LOG_FORMAT") == "JSON"


def _setup_logging():
    handler = logging.StreamHandler(sys.stdout)
    root = logging.getLogger()
    if _json_logs():
        handler.setFormatter(_JsonFormatter())
        handler.terminator = "\n"
        level = _LEVELS.get(os.environ.get("AWS_LAMBDA_LOG_LEVEL", "INFO").upper(), logging.INFO)
        logging.addLevelName(5, "TRACE")
    else:
        formatter = logging.Formatter(
            "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s\n",
            "%Y-%m-%dT%H:%M:%S",
        )
        formatter.converter = time.gmtime
        handler.setFormatter(formatter)
        level = logging.WARNING
    handler.addFilter(_RequestIdFilter())
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)


_RUNTIME_FILES = tuple(os.path.join(os.path.dirname(os.path.abspath(__file__)), name)
                       for name in ("python_runtime.py", "zygote.py", "template.py"))


def _user_frames(tb):
    """The traceback from the first frame that is not the runtime's own (AWS shows no bootstrap frames)."""
    frames_ = traceback.extract_tb(tb)
    for i, frame in enumerate(frames_):
        if frame.filename not in _RUNTIME_FILES:
            return frames_[i:]
    return []


def _error_payload(exc, error_type=None, request_id=""):
    return {
        "errorMessage": str(exc),
        "errorType": error_type or type(exc).__name__,
        "requestId": request_id,
        "stackTrace": traceback.format_list(_user_frames(exc.__traceback__)),
    }


def _log_error(payload):
    """One `[ERROR] Type: message` line and the traceback, as AWS's runtime writes them (one JSON
    line with LogFormat JSON)."""
    if _json_logs():
        line = {"timestamp": _utc_stamp(time.time()), "level": "ERROR",
                "message": "{0}: {1}".format(payload["errorType"], payload["errorMessage"]),
                "logger": "root", "requestId": payload.get("requestId") or _current_request_id[0],
                "errorType": payload["errorType"], "errorMessage": payload["errorMessage"],
                "stackTrace": payload.get("stackTrace") or []}
        sys.stdout.write(json.dumps(line) + "\n")
        return
    lines = ["[ERROR] {0}: {1}".format(payload["errorType"], payload["errorMessage"])]
    if payload.get("stackTrace") is not None:
        lines.append("Traceback (most recent call last):")
        for element in payload["stackTrace"]:
            lines.extend(element.splitlines())
    sys.stdout.write("\n".join(lines) + "\n")


class _HandlerNotFound(object):
    """AWS imports the module at init but reports a missing handler on every invoke."""

    def __init__(self, fn_name, module_name):
        self.message = "Handler '{0}' missing on module '{1}'".format(fn_name, module_name)

    def __call__(self, event, context):
        raise _InitError("Runtime.HandlerNotFound", self.message)


def load_handler(handler_string):
    """Import `pkg.mod.fn` / `dir/mod.fn` as AWS's runtime does; failures as (error type, message)."""
    try:
        module_path, fn_name = handler_string.rsplit(".", 1)
    except ValueError as exc:
        raise _InitError("Runtime.MalformedHandlerName", "Bad handler '{0}': {1}".format(handler_string, exc)) from None
    if module_path.split(".")[0] in sys.builtin_module_names:
        raise _InitError("Runtime.BuiltInModuleConflict",
                         "Cannot use built-in module {0} as a handler module".format(module_path))
    try:
        module = importlib.import_module(module_path.replace("/", "."))
    except ImportError as exc:
        raise _InitError("Runtime.ImportModuleError",
                         "Unable to import module '{0}': {1}".format(module_path, exc)) from None
    except SyntaxError as exc:
        trace = ['  File "%s" Line %s\n    %s' % (exc.filename, exc.lineno, (exc.text or "").strip())]
        raise _InitError("Runtime.UserCodeSyntaxError",
                         "Syntax error in module '{0}': {1}".format(module_path, exc), trace) from None
    except Exception as exc:
        payload = _error_payload(exc)
        raise _InitError(payload["errorType"], payload["errorMessage"], payload["stackTrace"]) from None
    fn = getattr(module, fn_name, None)
    if fn is None:
        return _HandlerNotFound(fn_name, module_path)
    return fn


class _InitError(Exception):
    def __init__(self, error_type, message, stack=None):
        Exception.__init__(self, message)
        self.error_type = error_type
        self.message = message
        self.stack = stack or []


def _maxrss_kib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def run(spec, channel_fd):
    """Never returns: the environment process exits when the channel closes."""
    sock = socket.socket(fileno=channel_fd)
    if spec.get("snapstart") == "template":
        template.serve(spec, sock)  # a SnapStart template: init once, then fork environments
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
    enter(spec, env)
    handler, init_ms = initialize(spec, send)
    send(frames.pack_json(frames.INIT_DONE, {"init_ms": init_ms}))

    invoke_loop(spec, handler, rfile, send)


def enter(spec, env):
    """The function's environment variables, working directory, import path, stdout/stderr, logging."""
    os.environ.clear()
    os.environ.update(env)
    os.chdir(spec["task_root"])
    # Lambda's order: the task root, then layers (/opt/python...), the runtime's own libraries last.
    sys.path[:0] = spec["path_head"]
    sys.path.extend(spec["path_tail"])

    sys.stdout = open(1, "w", encoding="utf-8", errors="backslashreplace", closefd=False, buffering=1)
    sys.stderr = open(2, "w", encoding="utf-8", errors="backslashreplace", closefd=False, buffering=1)
    _setup_logging()


def initialize(spec, send):
    """(handler, init ms). A failed init is reported with AWS's payload and ends the process."""
    t0 = time.perf_counter()
    try:
        handler = load_handler(spec["handler"])
    except _InitError as exc:
        payload = {"errorMessage": exc.message, "errorType": exc.error_type, "requestId": "",
                   "stackTrace": exc.stack}
        init_failed(payload, send)
    except SystemExit as exc:
        _exit(exc)
    return handler, (time.perf_counter() - t0) * 1000.0


def init_failed(payload, send):
    _log_error(payload)
    sys.stdout.flush()
    send(frames.pack_json(frames.INIT_ERROR, payload))
    os._exit(1)


def _exit(exc):
    """sys.exit() in user code ends the environment with that status, as on AWS (no error payload)."""
    code = exc.code
    if code is not None and not isinstance(code, int):
        sys.stderr.write("{0}\n".format(code))
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code or 0)


def _json_default(obj):
    # AWS's runtime encodes Decimal (what DynamoDB reads return) as a number.
    if isinstance(obj, decimal.Decimal):
        return int(obj) if obj == obj.to_integral_value() else float(obj)
    raise TypeError("Object of type {0} is not JSON serializable".format(type(obj).__name__))


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
        except _InitError as exc:  # a handler AWS would have reported missing
            err = {"errorMessage": exc.message, "errorType": exc.error_type, "requestId": request_id,
                   "stackTrace": []}
            _log_error(err)
            out = dumps(err).encode()
            kind = frames.ERROR
        except SystemExit as exc:
            _exit(exc)
        except Exception as exc:
            err = _error_payload(exc, request_id=request_id)
            _log_error(err)
            out = dumps(err).encode()
            kind = frames.ERROR
        else:
            try:
                out = dumps(result, default=_json_default).encode()
            except (TypeError, ValueError) as exc:
                err = {"errorMessage": "Unable to marshal response: {0}".format(exc),
                       "errorType": "Runtime.MarshalError", "requestId": request_id, "stackTrace": []}
                _log_error(err)
                out = dumps(err).encode()
                kind = frames.ERROR
        sys.stdout.flush()
        sys.stderr.flush()
        send(pack(kind, u32(_maxrss_kib()) + out))
