// The Node.js runtime inside an execution environment: init (the handler's import), then invocations.
//
// Behaves like AWS's Node.js runtime: handlers `dir/file.fn` (CommonJS, ES modules, .mjs/.cjs/.js by
// package.json "type"), async or callback style `(event, context, callback)` with
// callbackWaitsForEmptyEventLoop, the same context object, console lines
// `<ISO time>\t<request id>\t<LEVEL>\t<message>`, errors as {errorType, errorMessage, trace} and init
// failures as Runtime.ImportModuleError / Runtime.HandlerNotFound / Runtime.UserCodeSyntaxError /
// Runtime.MalformedHandlerName.
//
// Transport: `node node_runtime.mjs 3` speaks lambdad's framed protocol on fd 3 (frames.py: INIT_DONE
// or INIT_ERROR, then INVOKE -> RESULT | ERROR); without an fd argument it speaks the HTTP Runtime
// API at AWS_LAMBDA_RUNTIME_API, like any custom runtime.

import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import util from 'node:util';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';

const RUNTIME_FILE = fileURLToPath(import.meta.url);
const INVOKE = 0x49; // 'I'
const INIT_DONE = 0x44; // 'D'
const INIT_ERROR = 0x46; // 'F'
const RESULT = 0x52; // 'R'
const ERROR = 0x45; // 'E'
const FATAL = 0x54; // 'T': an error, and this process ends right after
const SETUP = 0x56; // 'V': server -> a spare process, the variables of the function it now runs

// ---- logging: console.* in Lambda's text format ---------------------------------------------------
let currentRequestId; // undefined until the first invocation, as AWS prints it

// LoggingConfig (LogFormat JSON): one JSON object a line, below ApplicationLogLevel dropped.
const LEVEL_RANK = { TRACE: 0, DEBUG: 1, INFO: 2, WARN: 3, ERROR: 4, FATAL: 5 };

function logLine(level, args) {
  const message = util.format(...args).replace(/\n/g, '\r');
  process.stdout.write(`${new Date().toISOString()}\t${currentRequestId}\t${level}\t${message}\n`);
}

function jsonLine(level, args) {
  const floor = LEVEL_RANK[(process.env.AWS_LAMBDA_LOG_LEVEL || 'INFO').toUpperCase()] ?? LEVEL_RANK.INFO;
  if (LEVEL_RANK[level] < floor) return;
  const line = { timestamp: new Date().toISOString(), level, requestId: currentRequestId };
  const error = args.length === 1 && args[0] instanceof Error ? args[0] : undefined;
  if (error) {
    Object.assign(line, { message: error.message, errorType: error.name, errorMessage: error.message,
      stackTrace: String(error.stack || '').split('\n') });
  } else {
    line.message = args.length === 1 && typeof args[0] === 'object' && args[0] !== null ? args[0]
      : util.format(...args);
  }
  let text;
  try {
    text = JSON.stringify(line);
  } catch {
    line.message = util.format(...args);
    text = JSON.stringify(line);
  }
  process.stdout.write(text + '\n');
}

function patchConsole() {
  const levels = { log: 'INFO', info: 'INFO', warn: 'WARN', error: 'ERROR', debug: 'DEBUG', trace: 'TRACE',
    fatal: 'FATAL' };
  for (const [name, level] of Object.entries(levels)) {
    // Read at each call: a spare process patches the console before it knows its function.
    console[name] = (...args) => (process.env.AWS_LAMBDA_LOG_FORMAT === 'JSON' ? jsonLine : logLine)(level, args);
  }
}

// AWS starts Node with --expose-gc; that flag would cost every cold start ~10 ms (no start-up
// snapshot), so gc() appears on first use instead.
function lazyGc() {
  Object.defineProperty(globalThis, 'gc', {
    configurable: true,
    get() {
      const require = createRequire(import.meta.url);
      require('node:v8').setFlagsFromString('--expose-gc');
      const gc = require('node:vm').runInNewContext('gc');
      Object.defineProperty(globalThis, 'gc', { value: gc, writable: true, configurable: true });
      return gc;
    },
  });
}

// ---- errors -------------------------------------------------------------------------------------
class RuntimeError extends Error {
  constructor(name, message) {
    super(message);
    this.name = name;
  }
}

function isError(e) {
  return e instanceof Error || (e !== null && typeof e === 'object' && typeof e.message === 'string'
    && typeof e.stack === 'string');
}

function toResponse(e) {
  try {
    if (isError(e)) {
      return { errorType: e.name, errorMessage: e.message, trace: String(e.stack).split('\n') };
    }
    return { errorType: typeof e, errorMessage: String(e), trace: [] };
  } catch {
    return { errorType: 'handled', errorMessage: 'callback called with Error argument, but there was a problem '
      + 'while retrieving one or more of its message, name, and stack' };
  }
}

function formatted(response) {
  return '\t' + JSON.stringify({ errorType: response.errorType, errorMessage: response.errorMessage,
    stack: response.trace });
}

// ---- loading the handler ------------------------------------------------------------------------
function packageType(dir, root) {
  // The nearest package.json decides what a .js file is, as in Node itself.
  for (let d = dir; ; d = path.dirname(d)) {
    try {
      return JSON.parse(fs.readFileSync(path.join(d, 'package.json'), 'utf8')).type || 'commonjs';
    } catch { /* no (readable) package.json here */ }
    if (d === root || d === path.dirname(d)) return 'commonjs';
  }
}

async function loadModule(appRoot, moduleRoot, moduleName) {
  const dir = path.resolve(appRoot, moduleRoot);
  const base = path.join(dir, moduleName);
  const req = createRequire(path.join(dir, '__lambdad__.js'));
  const exists = (p) => { try { return fs.statSync(p).isFile(); } catch { return false; } };
  if (exists(base + '.js')) {
    return packageType(dir, appRoot) === 'module' ? import(pathToFileURL(base + '.js').href) : req(base + '.js');
  }
  if (exists(base + '.mjs')) return import(pathToFileURL(base + '.mjs').href);
  if (exists(base + '.cjs')) return req(base + '.cjs');
  // Lambda also resolves the name as a package (node_modules, NODE_PATH).
  try {
    return req(req.resolve(moduleName, { paths: [dir, ...(process.env.NODE_PATH || '').split(':')] }));
  } catch (e) {
    if (e && e.code === 'MODULE_NOT_FOUND' && String(e.message).includes(`'${moduleName}'`)) {
      throw new RuntimeError('Runtime.ImportModuleError',
        `Error: Cannot find module '${moduleName}'\nRequire stack:\n- ${RUNTIME_FILE}`);
    }
    throw e;
  }
}

async function loadHandler(appRoot, handlerString) {
  const base = path.basename(handlerString);
  const moduleRoot = handlerString.slice(0, handlerString.length - base.length);
  const match = /^([^.]*)\.(.*)$/.exec(base);
  if (!match || !match[1] || !match[2]) {
    throw new RuntimeError('Runtime.MalformedHandlerName', 'Bad handler');
  }
  const [, moduleName, handlerPath] = match;
  let app;
  try {
    app = await loadModule(appRoot, moduleRoot, moduleName);
  } catch (e) {
    if (e instanceof RuntimeError) throw e;
    if (e instanceof SyntaxError) throw new RuntimeError('Runtime.UserCodeSyntaxError', String(e));
    if (e && (e.code === 'MODULE_NOT_FOUND' || e.code === 'ERR_MODULE_NOT_FOUND')) {
      throw new RuntimeError('Runtime.ImportModuleError', String(e));
    }
    throw e;
  }
  let fn = app;
  for (const key of handlerPath.split('.')) fn = fn == null ? undefined : fn[key];
  if (fn === undefined && app && app.default && typeof app.default === 'object') {
    fn = handlerPath.split('.').reduce((o, k) => (o == null ? undefined : o[k]), app.default); // CJS via import
  }
  if (fn === undefined) {
    throw new RuntimeError('Runtime.HandlerNotFound', `${handlerString} is undefined or not exported`);
  }
  if (typeof fn !== 'function') {
    throw new RuntimeError('Runtime.HandlerNotFound', `${handlerString} is not a function`);
  }
  return fn;
}

// ---- transports ---------------------------------------------------------------------------------
function maxRssBuffer() {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32BE(Math.min(process.resourceUsage().maxRSS, 0xffffffff) >>> 0);
  return b;
}

function frame(kind, body) {
  const head = Buffer.allocUnsafe(5);
  head.writeUInt32BE(body.length, 0);
  head[4] = kind;
  return Buffer.concat([head, body]);
}

class FrameTransport {
  constructor(fd) {
    this.fd = fd;
    this.buf = Buffer.alloc(0);
    this.sock = null;
    this.onFrame = null;
  }

  open() {
    if (this.sock) return;
    this.sock = new net.Socket({ fd: this.fd, readable: true, writable: true });
    this.sock.on('data', (data) => this.feed(data));
    this.sock.on('end', () => process.exit(0)); // the server closed the channel: this environment is done
    this.sock.on('error', () => process.exit(0));
  }

  // A spare process waits here for the function it is handed (SETUP: its environment variables).
  setup() {
    this.open();
    return new Promise((resolve) => {
      this.onFrame = (kind, body) => {
        if (kind === SETUP) {
          this.onFrame = null;
          resolve(JSON.parse(body.toString()));
        }
      };
    });
  }

  initError(response) {
    const data = frame(INIT_ERROR, Buffer.from(JSON.stringify(response)));
    if (!this.sock) {
      fs.writeSync(this.fd, data);
      return undefined;
    }
    return new Promise((resolve) => this.sock.write(data, resolve));
  }

  start(initMs, onInvoke) {
    this.open();
    this.onFrame = (kind, body) => {
      if (kind === INVOKE) {
        const headLength = body.readUInt32BE(0);
        onInvoke(JSON.parse(body.subarray(4, 4 + headLength).toString()), body.subarray(4 + headLength));
      }
    };
    this.sock.write(frame(INIT_DONE, Buffer.from(JSON.stringify({ init_ms: initMs }))));
  }

  feed(data) {
    let buf = this.buf.length ? Buffer.concat([this.buf, data]) : data;
    while (buf.length >= 5) {
      const length = buf.readUInt32BE(0);
      if (buf.length < 5 + length) break;
      const kind = buf[4];
      const body = buf.subarray(5, 5 + length);
      buf = buf.subarray(5 + length);
      if (this.onFrame) this.onFrame(kind, body);
    }
    this.buf = buf;
  }

  // While a callback-style handler runs, the channel must not keep the event loop alive, or
  // 'beforeExit' (the event loop is empty) could never tell us it is done.
  hold(on) {
    if (on) this.sock.ref(); else this.sock.unref();
  }

  answer(id, ok, text) {
    this.sock.write(frame(ok ? RESULT : ERROR, Buffer.concat([maxRssBuffer(), Buffer.from(text)])));
  }

  fatal(id, text, then) {
    this.sock.write(frame(FATAL, Buffer.concat([maxRssBuffer(), Buffer.from(text)])), then);
  }
}

class HttpTransport {
  constructor(address) {
    this.address = address;
  }

  async init() {
    this.http = await import('node:http');
    this.agent = new this.http.Agent({ keepAlive: true, maxSockets: 1 });
    const [host, port] = this.address.split(':');
    this.host = host;
    this.port = Number(port);
  }

  request(method, urlPath, body, headers = {}) {
    return new Promise((resolve, reject) => {
      const req = this.http.request({ host: this.host, port: this.port, method, path: `/2018-06-01/runtime/${urlPath}`,
        agent: this.agent, headers: body ? { ...headers, 'Content-Length': Buffer.byteLength(body) } : headers },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
      });
      req.on('error', reject);
      req.end(body);
    });
  }

  initError(response) {
    return this.request('POST', 'init/error', JSON.stringify(response),
      { 'Lambda-Runtime-Function-Error-Type': response.errorType });
  }

  start(initMs, onInvoke) {
    this.onInvoke = onInvoke;
    this.poll();
  }

  async poll() {
    let res;
    try {
      res = await this.request('GET', 'invocation/next');
    } catch (e) {
      console.error('lambdad: Runtime API unreachable:', e.message);
      process.exit(1);
    }
    const h = res.headers;
    const parse = (v) => { try { return v ? JSON.parse(v) : undefined; } catch { return undefined; } };
    this.onInvoke({
      id: h['lambda-runtime-aws-request-id'], arn: h['lambda-runtime-invoked-function-arn'],
      deadline: Number(h['lambda-runtime-deadline-ms']), trace: h['lambda-runtime-trace-id'] || '',
      client_context: parse(h['lambda-runtime-client-context']), identity: parse(h['lambda-runtime-cognito-identity']),
    }, res.body);
  }

  hold() {}

  async post(id, ok, text) {
    const headers = { 'Content-Type': 'application/json' };
    if (!ok) headers['Lambda-Runtime-Function-Error-Type'] = JSON.parse(text).errorType;
    await this.request('POST', `invocation/${id}/${ok ? 'response' : 'error'}`, text, headers);
  }

  async answer(id, ok, text) {
    await this.post(id, ok, text);
    this.poll();
  }

  async fatal(id, text, then) {
    await this.post(id, false, text).catch(() => {});
    then();
  }
}

// ---- the invoke loop ----------------------------------------------------------------------------
function makeContext(header, finish) {
  const env = process.env;
  const deadline = header.deadline;
  const context = {
    callbackWaitsForEmptyEventLoop: true,
    functionName: env.AWS_LAMBDA_FUNCTION_NAME,
    functionVersion: env.AWS_LAMBDA_FUNCTION_VERSION,
    invokedFunctionArn: header.arn,
    memoryLimitInMB: env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
    awsRequestId: header.id,
    logGroupName: env.AWS_LAMBDA_LOG_GROUP_NAME,
    logStreamName: env.AWS_LAMBDA_LOG_STREAM_NAME,
    identity: header.identity ? { cognitoIdentityId: header.identity.cognitoIdentityId,
      cognitoIdentityPoolId: header.identity.cognitoIdentityPoolId } : undefined,
    clientContext: header.client_context || undefined,
    getRemainingTimeInMillis: () => Math.max(deadline - Date.now(), 0),
    // The legacy completion methods; they never wait for the event loop.
    done: (err, result) => finish(err, result, false),
    succeed: (result) => finish(null, result, false),
    fail: (err) => finish(err == null ? 'handled' : err, undefined, false),
  };
  if (header.tenant_id) context.tenantId = header.tenant_id;
  return context;
}

// Fails the invocation in flight (if any) with an error nobody caught, then ends the process.
let crash = (response, code) => process.exit(code);

function serve(transport, handler) {
  let inFlight = null; // {id, settled, deferred}

  crash = (response, code) => {
    const current = inFlight;
    if (!current) process.exit(code);
    inFlight = null;
    current.settled = true;
    transport.fatal(current.id, JSON.stringify(response), () => process.exit(code));
  };

  function complete(id, err, result) {
    let ok = err == null;
    let text;
    if (ok) {
      try {
        text = result === undefined ? 'null' : JSON.stringify(result);
        if (text === undefined) text = 'null'; // functions and symbols serialize to nothing
      } catch (e) {
        ok = false;
        err = e;
      }
    }
    if (!ok) {
      const response = toResponse(err);
      console.error('Invoke Error', formatted(response));
      text = JSON.stringify(response);
    }
    inFlight = null;
    transport.hold(true);
    transport.answer(id, ok, text);
  }

  // The event loop emptied: a callback-style invocation that was waiting for that is done now.
  process.on('beforeExit', () => {
    const current = inFlight;
    if (current && !current.settled) {
      current.settled = true;
      complete(current.id, null, undefined); // never called back: AWS answers null
    } else if (current && current.deferred) {
      const run = current.deferred;
      current.deferred = null;
      run();
    }
  });

  return (header, payload) => {
    const id = header.id;
    currentRequestId = id;
    process.env._X_AMZN_TRACE_ID = header.trace || '';
    const current = { id, settled: false, deferred: null };
    inFlight = current;
    const finish = (err, result, waitForEmptyLoop) => {
      if (current.settled) return;
      current.settled = true;
      if (waitForEmptyLoop) {
        current.deferred = () => complete(id, err, result);
        transport.hold(false);
      } else {
        complete(id, err, result);
      }
    };
    const context = makeContext(header, finish);
    let event;
    try {
      event = payload.length ? JSON.parse(payload.toString()) : {};
    } catch (e) {
      finish(e, undefined, false);
      return;
    }
    const callback = (err, result) => finish(err, result, context.callbackWaitsForEmptyEventLoop);
    let returned;
    try {
      returned = handler(event, context, callback);
    } catch (e) {
      finish(e, undefined, false);
      return;
    }
    if (returned && typeof returned.then === 'function') {
      returned.then((value) => finish(null, value, false),
        (e) => finish(e === undefined || e === null ? new Error(String(e)) : e, undefined, false));
    } else if (!current.settled) {
      transport.hold(false); // wait for the callback, or for the event loop to empty
    }
  };
}

// A spare process was started before anyone knew which function it would run: it takes on that
// function's variables and task root now (NODE_PATH is read again; TZ takes effect on assignment).
function becomeFunction(env) {
  for (const key of Object.keys(process.env)) delete process.env[key];
  Object.assign(process.env, env);
  createRequire(import.meta.url)('node:module')._initPaths();
  process.chdir(env.LAMBDA_TASK_ROOT || '/');
}

async function main() {
  patchConsole();
  if (globalThis.gc === undefined) lazyGc();
  const fd = process.argv[2] ? Number(process.argv[2]) : NaN;
  const transport = Number.isInteger(fd) ? new FrameTransport(fd) : new HttpTransport(process.env.AWS_LAMBDA_RUNTIME_API);
  if (transport.init) await transport.init();
  let initStart = 0; // Init Duration covers Node's own start-up too, as on Lambda...
  if (process.argv[3] === 'spare') {
    const setup = await transport.setup();
    initStart = performance.now(); // ...except for a spare, which started before it was asked for
    becomeFunction(setup.env);
  }
  const appRoot = process.env.LAMBDA_TASK_ROOT || process.cwd();
  let handler;
  try {
    handler = await loadHandler(appRoot, process.env._HANDLER || '');
  } catch (e) {
    const response = toResponse(e);
    console.error('Uncaught Exception', formatted(response));
    await transport.initError(response);
    process.exit(1);
  }
  transport.start(performance.now() - initStart, serve(transport, handler));
}

// As on Lambda: an error nobody caught fails the invocation in flight and ends the environment.
process.on('uncaughtException', (e) => {
  const response = toResponse(e);
  console.error('Uncaught Exception', formatted(response));
  crash(response, 129);
});
process.on('unhandledRejection', (reason) => {
  const cause = toResponse(reason);
  const response = { errorType: 'Runtime.UnhandledPromiseRejection',
    errorMessage: isError(reason) ? `${reason.name}: ${reason.message}` : String(reason), trace: cause.trace };
  console.error('Unhandled Promise Rejection', formatted(response));
  crash(response, 128);
});

main();
