#!/usr/bin/env node
'use strict';
// Sends spans with the real jaeger-client (npm jaeger-client@3.19.0, Thrift binary over UDP,
// the way a Node application does) to the agent's jaeger-binary port, and records exactly
// what went on the wire.
//
//   node send_jaeger_client.js <agentPort> <sent.jsonl> [--spans N] [--seed S]
//
// Several tracers (= services, process tags of every type, one with 64-bit trace ids) create
// traces whose spans carry tags of every type jaeger-client can produce, logs, baggage logs,
// CHILD_OF / FOLLOWS_FROM references (incl. across traces) and 128-bit trace ids.
// The UDP socket of every tracer's sender is wrapped: each datagram's bytes are copied before
// they are sent, decoded afterwards with thriftrw (idl/agent.thrift), normalized (normalize.js)
// and written to <sent.jsonl>. The run fails if the datagrams do not hold exactly the spans
// that were finished (same count, same span ids), if a datagram does not decode completely,
// or if the client reports any error.
//
// What jaeger-client 3.19.0 can put on the wire: JS numbers → DOUBLE (there is no LONG: a
// BigInt becomes a STRING tag via String()), booleans → BOOL, Buffers → BINARY, objects →
// STRING (JSON), everything else → STRING. All seven Tag fields are written on every tag.

const fs = require('fs');
const path = require('path');
const opentracing = require('opentracing');
const {initTracer} = require('jaeger-client');
const {Thrift} = require('thriftrw');
const normalize = require('./normalize.js');

const IDL_DIR = process.env.JAGENT_IDL_DIR || path.join(__dirname, '..', '..', 'idl');

function usage(msg) {
  if (msg) process.stderr.write('send_jaeger_client: ' + msg + '\n');
  process.stderr.write('usage: send_jaeger_client.js <agentPort> <sent.jsonl> [--spans N] [--seed S]\n');
  process.exit(2);
}

const argv = process.argv.slice(2);
if (argv.length < 2) usage();
const agentPort = Number(argv[0]);
if (!Number.isInteger(agentPort) || agentPort <= 0 || agentPort > 65535) usage('bad port');
const outPath = argv[1];
let targetSpans = 1200;
let seed = 1;
for (let i = 2; i < argv.length; i++) {
  if (argv[i] === '--spans') targetSpans = Number(argv[++i]);
  else if (argv[i] === '--seed') seed = Number(argv[++i]);
  else usage('unknown argument ' + argv[i]);
}
if (!Number.isInteger(targetSpans) || targetSpans < 1) usage('bad --spans');

// Deterministic choice of tag shapes (ids and timestamps come from jaeger-client itself).
let rngState = (seed >>> 0) || 1;
function rand() {
  rngState ^= rngState << 13; rngState >>>= 0;
  rngState ^= rngState >>> 17;
  rngState ^= rngState << 5; rngState >>>= 0;
  return rngState / 0x100000000;
}
function pick(arr) {
  return arr[Math.floor(rand() * arr.length)];
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const clientErrors = [];
function makeLogger(service) {
  return {
    info: () => {},
    error: (msg) => clientErrors.push(service + ': ' + msg),
  };
}

// --- tracers: one per service, each with its own UDP sender/socket --------------------------
const SERVICES = [
  {name: 'interop-frontend', traceId128bit: true,
    tags: {'deploy.zone': 'zone-a', 'build.number': 4711, 'canary': false}},
  {name: 'interop-bäckend-服务', traceId128bit: true,
    tags: {'region': 'eu-ü', 'weight': 0.25, 'enabled': true}},
  {name: 'interop-db', traceId128bit: true, tags: {}},
  {name: 'interop-legacy-64bit', traceId128bit: false, tags: {'legacy': true}},
];

const captured = [];   // {service, bytes}
let sendsInFlight = 0;

const tracers = SERVICES.map((svc) => {
  const tracer = initTracer({
    serviceName: svc.name,
    sampler: {type: 'const', param: 1},
    reporter: {agentHost: '127.0.0.1', agentPort, flushIntervalMs: 20},
  }, {
    tags: svc.tags,
    traceId128bit: svc.traceId128bit,
    logger: makeLogger(svc.name),
  });
  const sender = tracer._reporter && tracer._reporter._sender;
  if (!sender || !sender._client || typeof sender._client.send !== 'function') {
    throw new Error('jaeger-client internals changed: tracer._reporter._sender._client.send not found');
  }
  const socket = sender._client;
  const origSend = socket.send;
  socket.send = function wrappedSend(buf, offset, length, port, host, cb) {
    // Node re-invokes socket.send(list, port, address, cb) for sends queued before the
    // implicit bind; those are already captured (and their cb already wrapped).
    if (Array.isArray(buf)) return origSend.apply(socket, arguments);
    // jaeger-client 3.19.0 always calls send(buffer, offset, length, port, host, cb).
    if (typeof offset !== 'number' || typeof length !== 'number') {
      throw new Error('unexpected dgram send signature');
    }
    captured.push({service: svc.name, bytes: Buffer.from(buf.subarray(offset, offset + length))});
    sendsInFlight++;
    return origSend.call(socket, buf, offset, length, port, host, (err, n) => {
      sendsInFlight--;
      if (err) clientErrors.push(svc.name + ': send: ' + err.message);
      if (cb) cb(err, n);
    });
  };
  return {svc, tracer};
});

// --- span content --------------------------------------------------------------------------
const LONG_STRING = 'long-'.repeat(400) + 'end';
const STRING_VALUES = [
  'GET', '', 'héllo wörld – 日本語 – ελληνικά – עברית', 'emoji 🚀🧪🎉', 'quote " backslash \\ slash /',
  'line\nbreak\ttab\rcr', 'ctl \u0001\u001f\u007f', 'nul \u0000 inside', LONG_STRING,
];
const NUMBER_VALUES = [
  0, 1, -1, 42, -7, 2 ** 31, -(2 ** 31) - 1, 2 ** 53 - 1, -(2 ** 53) + 1, 2 ** 53 + 2, 2 ** 60,
  -(2 ** 63), 3.141592653589793, -2.5e-8, 1e-300, 5e-324, Number.MAX_VALUE, -Number.MAX_VALUE,
  Infinity, -Infinity, NaN, -0,
];
const BINARY_VALUES = [
  Buffer.from([0, 1, 2, 0xfe, 0xff]), Buffer.alloc(0), Buffer.from('binary ünicode'),
  Buffer.alloc(300, 0xa5),
];

// Tags the OTLP status rules read (modern-collectors.md §3.6, §3.7), one set per span in turn;
// JS numbers are DOUBLE, so an http.status_code that counts must be a string of digits.
const STATUS_TAGS = [
  null, {error: true}, {'error': true, 'otel.status_description': 'boom ü'},
  {'error': true, 'http.status_message': 'Bad Gateway'}, {'otel.status_code': 'ok'},
  {'otel.status_code': 'ERROR', 'otel.status_description': 'failed'}, {'otel.status_code': 'maybe'},
  {'http.status_code': '404', 'http.status_message': 'Not Found'}, {'http.status_code': '+503'},
  {'http.status_code': '200'}, {'http.status_code': 500}, {'error': false}, {'error': 'true'},
];

let spanSerial = 0;
function addTags(span) {
  const n = spanSerial++;
  span.setTag('span.serial', n);                                   // DOUBLE (integral)
  span.setTag('str', pick(STRING_VALUES));                          // STRING
  span.setTag('num', pick(NUMBER_VALUES));                          // DOUBLE
  span.setTag('float', rand() * 1e6 - 5e5);                         // DOUBLE
  span.setTag('flag.true', true);                                   // BOOL
  span.setTag('flag.false', false);                                 // BOOL
  span.setTag('bin', pick(BINARY_VALUES));                          // BINARY
  span.setTag('big', BigInt('0x7fffffffffffffff') - BigInt(n));    // → STRING (no LONG in jaeger-client)
  span.setTag('obj', {a: n, b: ['x', 'ÿ'], c: null});              // → STRING (JSON)
  span.setTag('nul', null);                                         // → STRING "null"
  span.setTag(opentracing.Tags.SPAN_KIND, pick(['client', 'server', 'producer', 'consumer']));
  span.setTag('ключ-ü', 'значение');                                // unicode key
  span.addTags({'multi.a': 1.5, 'multi.b': 'two', 'multi.c': true});
  if (STATUS_TAGS[n % STATUS_TAGS.length]) span.addTags(STATUS_TAGS[n % STATUS_TAGS.length]);
}

function addLogs(span, count) {
  for (let i = 0; i < count; i++) {
    span.log({
      event: pick(['cache.miss', 'retry', 'error', 'ünïcode-event']),
      message: pick(STRING_VALUES),
      attempt: i,
      ratio: rand(),
      ok: i % 2 === 0,
      payload: pick(BINARY_VALUES),
    }, Date.now() - 5 + i * 0.001);
  }
  if (count === 0) span.log({});  // a log with no fields
}

const created = new Set();   // span ids (hex) finished by the tracers

function finish(span) {
  created.add(span.context().spanIdStr);
  span.finish();
}

function makeTrace(t) {
  // Root: any tracer (one of them uses 64-bit trace ids).
  const rootTracer = tracers[t % tracers.length].tracer;
  const root = rootTracer.startSpan(pick(['GET /api/orders', 'ルート操作', 'root']),
    {startTime: Date.now() - 20 - rand()});
  addTags(root);
  if (t % 17 === 0) root.setTag(opentracing.Tags.SAMPLING_PRIORITY, 1);  // debug flag
  root.setBaggageItem('tenant', 'tenant-' + t);                           // logs a baggage event
  addLogs(root, t % 3);
  const spans = [root];
  const children = 2 + (t % 5);
  for (let c = 0; c < children; c++) {
    const tr = tracers[(t + c + 1) % tracers.length].tracer;
    const prev = spans[spans.length - 1];
    let opts;
    switch (c % 4) {
      case 0: opts = {childOf: root}; break;
      case 1: opts = {references: [opentracing.followsFrom(prev.context())]}; break;
      case 2: opts = {references: [opentracing.childOf(prev.context()), opentracing.followsFrom(root.context())]};
        break;
      default: opts = {childOf: prev, references: [opentracing.followsFrom(prev.context())]}; break;
    }
    const s = tr.startSpan('child-' + c + (c % 2 ? '-ü' : ''), opts);
    addTags(s);
    addLogs(s, (t + c) % 4);
    spans.push(s);
  }
  // One span that follows from a span of the previous trace (cross-trace reference).
  if (lastTraceRoot) {
    const s = tracers[(t + 3) % tracers.length].tracer.startSpan('cross-trace', {
      childOf: root, references: [opentracing.followsFrom(lastTraceRoot)],
    });
    addTags(s);
    spans.push(s);
  }
  lastTraceRoot = root.context();
  // Finish children first, then the root, like real code does.
  for (let i = spans.length - 1; i >= 0; i--) finish(spans[i]);
  return spans.length;
}
let lastTraceRoot = null;

function closeTracer(tracer) {
  return new Promise((resolve) => tracer.close(resolve));
}

function decodeAll(agentThrift) {
  const lines = [];
  const errors = [];
  captured.forEach((d, i) => {
    const r = agentThrift.Agent.emitBatch.argumentsMessageRW.readFrom(d.bytes, 0);
    if (r.err) {
      errors.push('datagram ' + i + ' (' + d.bytes.length + ' bytes): ' + r.err.message);
      return;
    }
    if (r.offset !== d.bytes.length) {
      errors.push('datagram ' + i + ': ' + (d.bytes.length - r.offset) + ' trailing bytes');
    }
    const msg = r.value;
    if (msg.name !== 'emitBatch') errors.push('datagram ' + i + ': method ' + msg.name);
    if (d.bytes.length > 65000) errors.push('datagram ' + i + ': ' + d.bytes.length + ' bytes > 65000');
    for (const s of normalize.jaegerBatch(msg.body.batch)) lines.push(s);
  });
  return {lines, errors};
}

async function main() {
  const t0 = Date.now();
  let spans = 0;
  let traces = 0;
  while (spans < targetSpans) {
    spans += makeTrace(traces++);
    // Pace: the senders flush a ~65 KB datagram whenever their buffer fills; a short pause
    // every few traces keeps the loopback socket of the agent from overflowing.
    if (traces % 8 === 0) await sleep(2);
  }
  // Let the 20 ms flush timers send everything first: a flush racing close() can lose its
  // datagram (the socket closes before the send completes), which is not the agent's doing.
  await sleep(100);
  for (let i = 0; i < 100 && sendsInFlight > 0; i++) await sleep(10);
  await Promise.all(tracers.map((t) => closeTracer(t.tracer)));
  for (let i = 0; i < 100 && sendsInFlight > 0; i++) await sleep(10);

  const agentThrift = new Thrift({
    entryPoint: path.join(IDL_DIR, 'agent.thrift'),
    allowFilesystemAccess: true,
    strict: false,
    allowOptionalArguments: true,
  });
  const {lines, errors} = decodeAll(agentThrift);

  const onWire = new Set(lines.map((l) => l.spanId.replace(/^0+(?=.)/, '')));
  const createdNorm = new Set([...created].map((id) => id.replace(/^0+(?=.)/, '')));
  if (sendsInFlight !== 0) errors.push(sendsInFlight + ' UDP sends never completed');
  if (created.size !== spans) errors.push('span id collision: ' + spans + ' spans, ' + created.size + ' ids');
  if (lines.length !== spans) errors.push('created ' + spans + ' spans, datagrams hold ' + lines.length);
  for (const id of createdNorm) {
    if (!onWire.has(id)) { errors.push('span ' + id + ' was finished but is in no datagram'); break; }
  }
  for (const id of onWire) {
    if (!createdNorm.has(id)) { errors.push('datagram span ' + id + ' was never created'); break; }
  }
  for (const e of clientErrors) errors.push('jaeger-client: ' + e);

  fs.writeFileSync(outPath, lines.map((l) => JSON.stringify(l)).join('\n') + (lines.length ? '\n' : ''));
  const bytes = captured.reduce((a, d) => a + d.bytes.length, 0);
  const services = new Set(lines.map((l) => l.service));
  process.stdout.write('send_jaeger_client: ' + lines.length + ' spans in ' + traces + ' traces, ' +
    captured.length + ' datagrams (' + bytes + ' bytes), ' + services.size + ' services, ' +
    (Date.now() - t0) + ' ms\n');
  if (errors.length) {
    for (const e of errors.slice(0, 20)) process.stderr.write('send_jaeger_client: FAIL ' + e + '\n');
    process.exit(1);
  }
}

main().catch((err) => {
  process.stderr.write('send_jaeger_client: ' + (err.stack || err) + '\n');
  process.exit(1);
});
