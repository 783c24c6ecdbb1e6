#!/usr/bin/env node
'use strict';
// A real tchannel-node (npm tchannel@4.0.1) collector for the sampling interop test.
//
//   node sampling_collector.js <port|0> <spans.jsonl> [stats.json]
//
// Serves TChannel service "jaeger-collector" on 127.0.0.1:<port> with
//   SamplingManager::getSamplingStrategy               (idl/sampling.thrift)
//   BaggageRestrictionManager::getBaggageRestrictions  (idl/baggage.thrift)
//   Collector::submitBatches                           (idl/jaeger.thrift)
// The strategies per service are the ones behind tests/data/http/*.json (see the README there;
// keep STRATEGIES in step with tests/unit/http_test_util.h). Service "svc-fail" makes the
// sampling call fail (an error frame), as a collector without a strategy store would.
// Every received span is appended to <spans.jsonl> as {"service","operation"} before the call
// is answered. Prints "ready <port>" when listening; on SIGTERM/SIGINT writes <stats.json>
// (calls per "method service") and exits 0.

const fs = require('fs');
const path = require('path');
const TChannel = require('tchannel');
const TChannelAsThrift = require('tchannel/as/thrift');

const IDL_DIR = process.env.JAGENT_IDL_DIR || path.join(__dirname, '..', '..', 'idl');

const argv = process.argv.slice(2);
if (argv.length < 2) {
  process.stderr.write('usage: sampling_collector.js <port|0> <spans.jsonl> [stats.json]\n');
  process.exit(2);
}
const port = Number(argv[0]);
const spansFd = fs.openSync(argv[1], 'w');
const statsPath = argv[2] || null;

const STRATEGIES = {
  'svc-prob': {strategyType: 'PROBABILISTIC', probabilisticSampling: {samplingRate: 0.001}},
  'svc-rate': {strategyType: 'RATE_LIMITING', rateLimitingSampling: {maxTracesPerSecond: 5}},
  'svc-perop': {
    strategyType: 'PROBABILISTIC',
    probabilisticSampling: {samplingRate: 0.2},
    operationSampling: {
      defaultSamplingProbability: 0.2,
      defaultLowerBoundTracesPerSecond: 0.5,
      perOperationStrategies: [
        {operation: 'GET /a<b>&c', probabilisticSampling: {samplingRate: 0.75}},
        {operation: 'op-\u00fcn\u00efcode', probabilisticSampling: {samplingRate: 1}},
      ],
      defaultUpperBoundTracesPerSecond: 10,
    },
  },
  'svc-perop-empty': {
    strategyType: 'PROBABILISTIC',
    operationSampling: {
      defaultSamplingProbability: 1e-7,
      defaultLowerBoundTracesPerSecond: 0,
      perOperationStrategies: [],
    },
  },
  'client-all': {strategyType: 'PROBABILISTIC', probabilisticSampling: {samplingRate: 1}},
  'client-none': {strategyType: 'PROBABILISTIC', probabilisticSampling: {samplingRate: 0}},
};
const BAGGAGE = {
  'svc-prob': [{baggageKey: 'user-id', maxValueLength: 64}, {baggageKey: 'k"q<', maxValueLength: 8}],
};

const stats = {calls: {}, spans: {}, errors: []};
function count(method, service) {
  const key = method + ' ' + service;
  stats.calls[key] = (stats.calls[key] || 0) + 1;
}

const server = TChannel({logger: quietLogger()});
const svc = server.makeSubChannel({serviceName: 'jaeger-collector'});
const opts = {channel: svc, allowOptionalArguments: true};
const sampling = TChannelAsThrift(Object.assign({entryPoint: path.join(IDL_DIR, 'sampling.thrift')}, opts));
const baggage = TChannelAsThrift(Object.assign({entryPoint: path.join(IDL_DIR, 'baggage.thrift')}, opts));
const jaeger = TChannelAsThrift(Object.assign({entryPoint: path.join(IDL_DIR, 'jaeger.thrift')}, opts));

sampling.register(svc, 'SamplingManager::getSamplingStrategy', {}, (ctx, req, head, body, cb) => {
  count('SamplingManager::getSamplingStrategy', body.serviceName);
  if (body.serviceName === 'svc-fail') return cb(new Error('strategy store unavailable'));
  const s = STRATEGIES[body.serviceName] || STRATEGIES['svc-prob'];
  cb(null, {ok: true, head: {}, body: s});
});

baggage.register(svc, 'BaggageRestrictionManager::getBaggageRestrictions', {}, (ctx, req, head, body, cb) => {
  count('BaggageRestrictionManager::getBaggageRestrictions', body.serviceName);
  cb(null, {ok: true, head: {}, body: BAGGAGE[body.serviceName] || []});
});

jaeger.register(svc, 'Collector::submitBatches', {}, (ctx, req, head, body, cb) => {
  const batches = body.batches || [];
  const lines = [];
  for (const b of batches) {
    const service = b.process.serviceName;
    for (const s of b.spans) {
      lines.push(JSON.stringify({service, operation: s.operationName}));
      stats.spans[service] = (stats.spans[service] || 0) + 1;
    }
  }
  if (lines.length) fs.writeSync(spansFd, lines.join('\n') + '\n');
  cb(null, {ok: true, head: {}, body: batches.map(() => ({ok: true}))});
});

let stopping = false;
function stop(signal) {
  if (stopping) return;
  stopping = true;
  try {
    fs.closeSync(spansFd);
  } catch (err) {
    stats.errors.push('closing spans file: ' + err.message);
  }
  if (statsPath) fs.writeFileSync(statsPath, JSON.stringify(stats, null, 1) + '\n');
  process.stderr.write('sampling_collector: ' + signal + ', stats ' + JSON.stringify(stats) + '\n');
  process.exit(0);
}
process.on('SIGTERM', () => stop('SIGTERM'));
process.on('SIGINT', () => stop('SIGINT'));

server.listen(port, '127.0.0.1', () => {
  process.stdout.write('ready ' + server.address().port + '\n');
});

function quietLogger() {
  const noop = () => {};
  const emit = (level) => (msg, meta) => {
    let m = '';
    try {
      m = meta ? ' ' + JSON.stringify(meta, (k, x) => (x instanceof Error ? x.message : x)) : '';
    } catch (e) {
      m = ' ' + String(meta);
    }
    process.stderr.write('sampling_collector tchannel ' + level + ': ' + msg + m + '\n');
  };
  return {trace: noop, debug: noop, info: noop, warn: emit('warn'), error: emit('error'), fatal: emit('fatal')};
}
