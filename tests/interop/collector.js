#!/usr/bin/env node
'use strict';
// A real tchannel-node (npm tchannel@4.0.1) Jaeger collector for the interop tests.
//
//   node collector.js <port|0> <received.jsonl> [stats.json]
//
// Serves TChannel service "jaeger-collector" on 127.0.0.1:<port> with
//   Collector::submitBatches            (idl/jaeger.thrift, strict)
//   ZipkinCollector::submitZipkinBatch  (idl/zipkincore.thrift, strict:false)
// Every received span is appended to <received.jsonl> as one normalized JSON line (see
// normalize.js) before the call is answered, so `wc -l` is an exact progress counter.
// Prints "ready <port>" on stdout when listening. On SIGTERM/SIGINT it writes <stats.json>
// (calls, batches, spans, transport headers seen, checksum types) and exits 0.

const fs = require('fs');
const path = require('path');
const TChannel = require('tchannel');
const TChannelAsThrift = require('tchannel/as/thrift');
const normalize = require('./normalize.js');

const IDL_DIR = process.env.JAGENT_IDL_DIR || path.join(__dirname, '..', '..', 'idl');

function usage() {
  process.stderr.write('usage: collector.js <port|0> <received.jsonl> [stats.json]\n');
  process.exit(2);
}

const argv = process.argv.slice(2);
if (argv.length < 2) usage();
const port = Number(argv[0]);
if (!Number.isInteger(port) || port < 0 || port > 65535) usage();
const outPath = argv[1];
const statsPath = argv[2] || null;

const outFd = fs.openSync(outPath, 'w');

const stats = {
  calls: {'Collector::submitBatches': 0, 'ZipkinCollector::submitZipkinBatch': 0},
  batches: 0,
  spans: {jaeger: 0, zipkin: 0},
  headers: {},            // "as=<v>,cn=<v>" -> calls
  checksumTypes: {},      // csumtype -> calls
  services: {},           // tchannel service name -> calls
  errors: [],
};

function recordRequest(req) {
  const h = req.headers || {};
  const key = 'as=' + h.as + ',cn=' + h.cn;
  stats.headers[key] = (stats.headers[key] || 0) + 1;
  const csum = req.checksum && req.checksum.type;
  stats.checksumTypes[csum] = (stats.checksumTypes[csum] || 0) + 1;
  stats.services[req.serviceName] = (stats.services[req.serviceName] || 0) + 1;
}

function writeLines(objs) {
  if (objs.length === 0) return;
  const text = objs.map((o) => JSON.stringify(o)).join('\n') + '\n';
  fs.writeSync(outFd, text);
}

const server = TChannel({logger: quietLogger()});
const svc = server.makeSubChannel({serviceName: 'jaeger-collector'});

const jaegerThrift = TChannelAsThrift({
  channel: svc,
  entryPoint: path.join(IDL_DIR, 'jaeger.thrift'),
  allowOptionalArguments: true,
});
const zipkinThrift = TChannelAsThrift({
  channel: svc,
  entryPoint: path.join(IDL_DIR, 'zipkincore.thrift'),
  strict: false,
  allowOptionalArguments: true,
});

jaegerThrift.register(svc, 'Collector::submitBatches', {}, (ctx, req, head, body, cb) => {
  stats.calls['Collector::submitBatches']++;
  recordRequest(req);
  const batches = body.batches || [];
  const lines = [];
  try {
    for (const b of batches) {
      stats.batches++;
      for (const s of normalize.jaegerBatch(b)) lines.push(s);
    }
  } catch (err) {
    stats.errors.push('submitBatches: ' + err.message);
    process.stderr.write('collector: cannot normalize batch: ' + err.stack + '\n');
    return cb(err);
  }
  writeLines(lines);
  stats.spans.jaeger += lines.length;
  cb(null, {ok: true, head: {}, body: batches.map(() => ({ok: true}))});
});

zipkinThrift.register(svc, 'ZipkinCollector::submitZipkinBatch', {}, (ctx, req, head, body, cb) => {
  stats.calls['ZipkinCollector::submitZipkinBatch']++;
  recordRequest(req);
  const spans = body.spans || [];
  let lines;
  try {
    lines = spans.map(normalize.zipkinSpan);
  } catch (err) {
    stats.errors.push('submitZipkinBatch: ' + err.message);
    process.stderr.write('collector: cannot normalize zipkin span: ' + err.stack + '\n');
    return cb(err);
  }
  writeLines(lines);
  stats.spans.zipkin += lines.length;
  cb(null, {ok: true, head: {}, body: spans.map(() => ({ok: true}))});
});

// Fault injection for the reporter tests (env): COLLECTOR_BUSY_FIRST=N answers the first N span
// calls with a TChannel "Busy" error frame (what a real collector does when its queue is full);
// COLLECTOR_DELAY_MS=D holds every span call D ms before handling it (a slow collector).
// Both act before the thrift handler runs, so a refused or pending call records no span.
const busyFirst = Number(process.env.COLLECTOR_BUSY_FIRST || 0);
const delayMs = Number(process.env.COLLECTOR_DELAY_MS || 0);
stats.busyAnswered = 0;
if (busyFirst > 0 || delayMs > 0) {
  const inner = svc.handler.handleRequest.bind(svc.handler);
  svc.handler.handleRequest = function handleRequest(req, buildResponse) {
    const spanCall = req.endpoint === 'Collector::submitBatches' ||
        req.endpoint === 'ZipkinCollector::submitZipkinBatch';
    if (spanCall && stats.busyAnswered < busyFirst) {
      stats.busyAnswered++;
      return buildResponse({streamed: false}).sendError('Busy', 'injected busy ' + stats.busyAnswered);
    }
    if (spanCall && delayMs > 0) return setTimeout(() => inner(req, buildResponse), delayMs);
    return inner(req, buildResponse);
  };
}

let stopping = false;
function stop(signal) {
  if (stopping) return;
  stopping = true;
  try {
    fs.fsyncSync(outFd);
    fs.closeSync(outFd);
  } catch (err) {
    process.stderr.write('collector: closing output: ' + err.message + '\n');
  }
  stats.signal = signal;
  if (statsPath) fs.writeFileSync(statsPath, JSON.stringify(stats, null, 1) + '\n');
  process.stderr.write('collector: ' + signal + ', stats ' + JSON.stringify(stats) + '\n');
  // server.close() waits for peers to drain; the process exit is what we need.
  process.exit(0);
}
process.on('SIGTERM', () => stop('SIGTERM'));
process.on('SIGINT', () => stop('SIGINT'));

server.listen(port, '127.0.0.1', () => {
  const addr = server.address();
  process.stdout.write('ready ' + addr.port + '\n');
});

// tchannel logs every connection reset etc. at info/warn level through this interface;
// keep warnings and errors (stderr), drop the rest.
function quietLogger() {
  const noop = () => {};
  const emit = (level) => (msg, meta) => {
    process.stderr.write('collector tchannel ' + level + ': ' + msg +
      (meta ? ' ' + safeJson(meta) : '') + '\n');
  };
  return {
    trace: noop, debug: noop, info: noop,
    warn: emit('warn'), error: emit('error'), fatal: emit('fatal'),
  };
}

function safeJson(v) {
  try {
    return JSON.stringify(v, (k, x) => (x instanceof Error ? x.message : x));
  } catch (e) {
    return String(v);
  }
}
