#!/usr/bin/env node
'use strict';
// A real jaeger-client (npm jaeger-client@3.19.0) whose remote sampler polls the agent's
// sampling port, then creates spans and reports them to the agent's UDP port.
//
//   node sampling_client.js <samplingPort> <agentUdpPort> <service> <expect> [--spans N]
//
// <expect> is what the strategy served for <service> must turn the client's sampler into:
//   all          ProbabilisticSampler(samplingRate=1): every one of the N spans is sampled
//   none         ProbabilisticSampler(samplingRate=0): none is
//   rate:<n>     RateLimitingSampler with maxTracesPerSecond n
//   perop        PerOperationSampler
// The client starts from a probabilistic 0.5 sampler (so neither outcome can happen by
// default) and refreshes every 100 ms. Prints one JSON line {service, sampler, sampled,
// spans, polls} and exits 0 when the expectation holds within 10 s, 1 otherwise.

const {initTracer} = require('jaeger-client');

const argv = process.argv.slice(2);
if (argv.length < 4) {
  process.stderr.write('usage: sampling_client.js <samplingPort> <agentUdpPort> <service> <expect> [--spans N]\n');
  process.exit(2);
}
const [samplingPort, udpPort] = [Number(argv[0]), Number(argv[1])];
const service = argv[2];
const expect = argv[3];
const spans = argv[4] === '--spans' ? Number(argv[5]) : 20;

const errors = [];
const logger = {info: () => {}, error: (m) => errors.push(m)};
const tracer = initTracer(
  {
    serviceName: service,
    sampler: {type: 'remote', param: 0.5, host: '127.0.0.1', port: samplingPort, refreshIntervalMs: 100},
    reporter: {agentHost: '127.0.0.1', agentPort: udpPort, flushIntervalMs: 50},
  },
  {logger});

// RemoteControlledSampler keeps the sampler it built from the last strategy in `_sampler`.
function current() {
  return tracer._sampler._sampler;
}
function satisfied() {
  const s = current();
  if (expect === 'all' || expect === 'none') {
    return s.name() === 'ProbabilisticSampler' && s._samplingRate === (expect === 'all' ? 1 : 0);
  }
  if (expect.startsWith('rate:')) {
    return s.name() === 'RateLimitingSampler' && s._maxTracesPerSecond === Number(expect.slice(5));
  }
  if (expect === 'perop') return s.name() === 'PerOperationSampler';
  throw new Error('unknown expectation ' + expect);
}

const deadline = Date.now() + 10000;
function finish(ok, sampled) {
  const out = {service, expect, sampler: current().toString(), sampled, spans, ok, errors: errors.slice(0, 3)};
  process.stdout.write(JSON.stringify(out) + '\n');
  tracer.close(() => process.exit(ok ? 0 : 1));
}

(function poll() {
  if (!satisfied()) {
    if (Date.now() > deadline) return finish(false, -1);
    return setTimeout(poll, 20);
  }
  // The strategy is applied: sampling decisions now follow it.
  let sampled = 0;
  for (let i = 0; i < spans; i++) {
    const span = tracer.startSpan('op-' + i);
    if (span.context().isSampled()) sampled++;
    span.finish();
  }
  let ok = true;
  if (expect === 'all') ok = sampled === spans;
  if (expect === 'none') ok = sampled === 0;
  // Give the reporter a flush interval before closing (close() flushes too).
  setTimeout(() => finish(ok, sampled), 100);
})();
