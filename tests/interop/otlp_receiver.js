#!/usr/bin/env node
'use strict';
// An OTLP trace receiver for the interop tests (modern_interop.py): what the agent's OTLP
// reporter sends is decoded by OpenTelemetry's OWN generated codec, the protobufjs static module
// of @opentelemetry/otlp-transformer@0.216.0 (build/src/generated/root.js, protobufjs 8; it has
// Span.flags and Link.flags, modern-collectors.md §6.2), not by anything of this project.
//
//   node otlp_receiver.js <requests.jsonl>
//
// Serves, on 127.0.0.1 with kernel-chosen ports:
//   OTLP/gRPC  @grpc/grpc-js: a service definition with identity (de)serializers at
//              /opentelemetry.proto.collector.trace.v1.TraceService/Export receives the raw
//              request bytes (§4.1, §6.2); grpc-js itself undoes grpc-encoding gzip.
//   OTLP/HTTP  node:http, POST /v1/traces, Content-Type application/x-protobuf, an optional
//              Content-Encoding: gzip body (§4.2); answers 200 with an empty
//              ExportTraceServiceResponse of the same content type.
// Every request becomes one JSON line: {transport, encoding, contentType, path, bytes,
// resourceSpans:[...normalized...]} (see norm* below), written before the answer; every gRPC
// stream also one {transport: 'grpc-stream', path, contentType, encoding} line (its headers). Anything not
// decodable, a wrong path/method/content type, or a message that does not re-encode to the same
// length (fields the codec does not know, i.e. dropped on decode) becomes {error: "..."} and the
// request is answered with an error. Prints "PORTS <grpc> <http>" once listening; stops on
// SIGTERM or when stdin closes.

const fs = require('fs');
const http = require('http');
const zlib = require('zlib');
const grpc = require('@grpc/grpc-js');
const root = require('@opentelemetry/otlp-transformer/build/src/generated/root.js');
const {doubleHex} = require('./normalize.js');

const otlp = root.opentelemetry.proto;
const Request = otlp.collector.trace.v1.ExportTraceServiceRequest;
const Response = otlp.collector.trace.v1.ExportTraceServiceResponse;
const EXPORT_PATH = '/opentelemetry.proto.collector.trace.v1.TraceService/Export';

if (process.argv.length < 3) {
  process.stderr.write('usage: otlp_receiver.js <requests.jsonl>\n');
  process.exit(2);
}
const out = fs.openSync(process.argv[2], 'w');

// ---- normalization: only values matter; bytes → hex, 64-bit → decimal string ------------------
const hex = (b) => (b ? Buffer.from(b).toString('hex') : '');
const dec = (v) => (v === null || v === undefined ? '0' : v.toString());  // Long keeps its signedness
// protobufjs 8 static messages leave absent scalars null: proto3 says absent = the zero value.
const str = (v) => (v === null || v === undefined ? '' : v);
const num = (v) => (v === null || v === undefined ? 0 : v);

function normValue(v) {
  if (!v) return {t: 'none'};
  switch (v.value) {  // the oneof virtual field: the name of the member that is set
    case 'stringValue': return {t: 'string', v: v.stringValue};
    case 'boolValue': return {t: 'bool', v: v.boolValue};
    case 'intValue': return {t: 'int', v: dec(v.intValue)};
    case 'doubleValue': return {t: 'double', v: doubleHex(v.doubleValue)};
    case 'bytesValue': return {t: 'bytes', v: hex(v.bytesValue)};
    case 'arrayValue': return {t: 'array', v: (v.arrayValue.values || []).map(normValue)};
    case 'kvlistValue': return {t: 'kvlist', v: normAttrs(v.kvlistValue.values)};
    default: return {t: 'none'};
  }
}

function normAttrs(list) {
  return (list || []).map((kv) => ({k: str(kv.key), v: normValue(kv.value)}));
}

function normSpan(s) {
  return {
    traceId: hex(s.traceId),
    spanId: hex(s.spanId),
    traceState: str(s.traceState),
    parentSpanId: hex(s.parentSpanId),
    flags: num(s.flags),
    name: str(s.name),
    kind: num(s.kind),
    start: dec(s.startTimeUnixNano),
    end: dec(s.endTimeUnixNano),
    attributes: normAttrs(s.attributes),
    droppedAttributesCount: num(s.droppedAttributesCount),
    events: (s.events || []).map((e) => ({
      time: dec(e.timeUnixNano), name: str(e.name), attributes: normAttrs(e.attributes),
      droppedAttributesCount: num(e.droppedAttributesCount),
    })),
    droppedEventsCount: num(s.droppedEventsCount),
    links: (s.links || []).map((l) => ({
      traceId: hex(l.traceId), spanId: hex(l.spanId), traceState: str(l.traceState),
      attributes: normAttrs(l.attributes), droppedAttributesCount: num(l.droppedAttributesCount), flags: num(l.flags),
    })),
    droppedLinksCount: num(s.droppedLinksCount),
    // Absent and empty Status are the same on the wire for a parser (pdata always writes one, §3.10).
    status: {code: s.status ? num(s.status.code) : 0, message: s.status ? str(s.status.message) : ''},
  };
}

function normRequest(req) {
  return (req.resourceSpans || []).map((rs) => ({
    resource: rs.resource ? {
      attributes: normAttrs(rs.resource.attributes),
      droppedAttributesCount: num(rs.resource.droppedAttributesCount),
      entityRefs: (rs.resource.entityRefs || []).length,
    } : null,
    schemaUrl: str(rs.schemaUrl),
    scopeSpans: (rs.scopeSpans || []).map((ss) => ({
      scope: ss.scope ? {
        name: str(ss.scope.name), version: str(ss.scope.version), attributes: normAttrs(ss.scope.attributes),
        droppedAttributesCount: num(ss.scope.droppedAttributesCount),
      } : null,
      schemaUrl: str(ss.schemaUrl),
      spans: (ss.spans || []).map(normSpan),
    })),
  }));
}

let requests = 0;
let errors = 0;
// Decodes, records, and says whether the request was good.
function record(meta, body) {
  requests++;
  const rec = Object.assign({}, meta, {bytes: body.length});
  try {
    const req = Request.decode(body);
    // protobufjs skips fields it does not know; re-encoding what it decoded must give back as
    // many bytes (field order may differ: the agent writes Span.flags after parent_span_id).
    // Invalid UTF-8 in a string (Zipkin bytes passed through, modern-collectors.md §3.9) decodes
    // to U+FFFD and changes the size too: accepted only when a U+FFFD is there to explain it.
    const again = Request.encode(req).finish().length;
    rec.resourceSpans = normRequest(req);
    if (again !== body.length && !JSON.stringify(rec.resourceSpans).includes('\ufffd')) {
      delete rec.resourceSpans;
      throw new Error('re-encoded ' + again + ' bytes of ' + body.length + ': unknown fields?');
    }
  } catch (e) {
    rec.error = 'decode: ' + e.message;
  }
  if (rec.error) errors++;
  fs.writeSync(out, JSON.stringify(rec) + '\n');
  return !rec.error;
}

const emptyResponse = Buffer.from(Response.encode({}).finish());

// ---- OTLP/gRPC ------------------------------------------------------------------------------
const identity = (b) => b;
const service = {
  Export: {
    path: EXPORT_PATH, requestStream: false, responseStream: false,
    requestSerialize: identity, requestDeserialize: identity,
    responseSerialize: identity, responseDeserialize: identity,
  },
};
const server = new grpc.Server();
server.addService(service, {
  Export(call, callback) {
    const ok = record({
      // grpc-js consumes grpc-encoding and content-type itself: see the 'grpc-stream' lines.
      transport: 'grpc', path: EXPORT_PATH, encoding: null, contentType: null,
    }, call.request);
    if (ok) callback(null, emptyResponse);
    else callback({code: grpc.status.INVALID_ARGUMENT, details: 'undecodable ExportTraceServiceRequest'});
  },
});

// ---- OTLP/HTTP ------------------------------------------------------------------------------
const httpServer = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    let body = Buffer.concat(chunks);
    const meta = {
      transport: 'http', path: req.url, method: req.method,
      encoding: req.headers['content-encoding'] || 'identity', contentType: req.headers['content-type'] || '',
    };
    let problem = null;
    if (req.method !== 'POST' || req.url !== '/v1/traces') problem = 'not POST /v1/traces';
    else if (meta.contentType !== 'application/x-protobuf') problem = 'content type ' + meta.contentType;
    else if (meta.encoding === 'gzip') {
      try {
        body = zlib.gunzipSync(body);
      } catch (e) {
        problem = 'gunzip: ' + e.message;
      }
    } else if (meta.encoding !== 'identity') problem = 'content encoding ' + meta.encoding;
    if (problem) {
      requests++;
      errors++;
      fs.writeSync(out, JSON.stringify(Object.assign(meta, {error: problem})) + '\n');
      res.writeHead(400, {'Content-Type': 'application/x-protobuf', 'Content-Length': 0});
      res.end();
      return;
    }
    const ok = record(meta, body);
    res.writeHead(ok ? 200 : 400, {'Content-Type': 'application/x-protobuf', 'Content-Length': ok ? emptyResponse.length : 0});
    res.end(ok ? emptyResponse : undefined);
  });
});

function stop() {
  server.forceShutdown();
  httpServer.close();
  fs.closeSync(out);
  process.stderr.write('otlp_receiver: ' + requests + ' requests, ' + errors + ' errors\n');
  process.exit(0);
}
process.on('SIGTERM', stop);
process.stdin.on('end', stop);
process.stdin.resume();

server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, grpcPort) => {
  if (err) {
    process.stderr.write('otlp_receiver: gRPC bind: ' + err.message + '\n');
    process.exit(1);
  }
  // grpc-js consumes grpc-encoding before a handler sees the metadata; the HTTP/2 request
  // headers are visible on its (internal, pinned version) http2 servers. One line per stream.
  for (const h2 of (server.http2Servers || new Map()).keys()) {
    h2.on('stream', (stream, headers) => {
      fs.writeSync(out, JSON.stringify({
        transport: 'grpc-stream', path: headers[':path'], contentType: headers['content-type'] || '',
        encoding: headers['grpc-encoding'] || 'identity',
      }) + '\n');
    });
  }
  httpServer.listen(0, '127.0.0.1', () => {
    process.stdout.write('PORTS ' + grpcPort + ' ' + httpServer.address().port + '\n');
  });
});
