'use strict';
// Normalized JSON form of spans, shared by collector.js (what the collector received) and
// send_jaeger_client.js (what jaeger-client put on the wire). tools/oracle_sender.cc writes the
// same objects from C++. compare.py compares the parsed objects, so only the values matter,
// not key order or string escaping.
//
// Input objects are what thriftrw decodes: i64 = 8-byte big-endian Buffer, enum = name string,
// absent optional field = null/undefined, double = JS number.
//
// jaeger span line:
//   {format:"jaeger", service, processTags:[tag...] (order as sent), seqNo:dec|null,
//    stats:{fullQueueDroppedSpans,tooLargeDroppedSpans,failedToEmitSpans}(dec)|null,
//    traceIdLow, traceIdHigh, spanId, parentSpanId (16 hex), operationName,
//    references:[{refType:n, traceIdLow, traceIdHigh, spanId}], flags:n,
//    startTime:dec, duration:dec, tags:[tag...], logs:[{timestamp:dec, fields:[tag...]}]}
//   tag = {key, vType:n, value} where value is selected by vType only: STRING → string,
//   DOUBLE → 16 hex (IEEE bits, big-endian), BOOL → true/false, LONG → 16 hex, BINARY → hex;
//   null when the selected field is absent. Absent lists and empty lists both → [].
// zipkin span line:
//   {format:"zipkin", traceIdHigh:hex|null, traceId, id, parentId:hex|null, name,
//    annotations:[{timestamp:dec|null, value, host:endpoint|null}],
//    binaryAnnotations:[{key, value:hex, annotationType:n, host:endpoint|null}],
//    debug:bool (absent → false, the IDL default), timestamp:dec|null, duration:dec|null}
//   endpoint = {ipv4:n (signed i32), port:n (signed i16), serviceName, ipv6:hex|null}

const TAG_TYPES = {STRING: 0, DOUBLE: 1, BOOL: 2, LONG: 3, BINARY: 4};
const REF_TYPES = {CHILD_OF: 0, FOLLOWS_FROM: 1};
const ANNOTATION_TYPES = {BOOL: 0, BYTES: 1, I16: 2, I32: 3, I64: 4, DOUBLE: 5, STRING: 6};

function isAbsent(v) {
  return v === null || v === undefined;
}

function enumValue(map, v) {
  if (isAbsent(v)) return null;
  if (typeof v === 'number') return v;
  if (Object.prototype.hasOwnProperty.call(map, v)) return map[v];
  throw new Error('unknown enum value ' + v);
}

function i64Buffer(v) {
  if (Buffer.isBuffer(v)) {
    if (v.length !== 8) throw new Error('i64 buffer of length ' + v.length);
    return v;
  }
  const b = Buffer.alloc(8);
  if (typeof v === 'bigint') {
    b.writeBigInt64BE(BigInt.asIntN(64, v));
  } else if (typeof v === 'number') {
    b.writeBigInt64BE(BigInt(v));
  } else {
    throw new Error('unsupported i64 representation ' + typeof v);
  }
  return b;
}

function hex64(v) {
  if (isAbsent(v)) return null;
  return i64Buffer(v).toString('hex');
}

function dec64(v) {
  if (isAbsent(v)) return null;
  return i64Buffer(v).readBigInt64BE(0).toString();
}

function doubleHex(x) {
  if (isAbsent(x)) return null;
  const b = Buffer.alloc(8);
  b.writeDoubleBE(x);
  return b.toString('hex');
}

function binHex(v) {
  if (isAbsent(v)) return null;
  return Buffer.from(v).toString('hex');
}

function list(v) {
  return isAbsent(v) ? [] : v;
}

function tag(t) {
  const vType = enumValue(TAG_TYPES, t.vType);
  let value;
  switch (vType) {
    case 0: value = isAbsent(t.vStr) ? null : t.vStr; break;
    case 1: value = doubleHex(t.vDouble); break;
    case 2: value = isAbsent(t.vBool) ? null : !!t.vBool; break;
    case 3: value = hex64(t.vLong); break;
    case 4: value = binHex(t.vBinary); break;
    default: throw new Error('unknown vType ' + vType);
  }
  return {key: t.key, vType, value};
}

function jaegerBatch(batch) {
  const process = batch.process || {};
  const processTags = list(process.tags).map(tag);
  const stats = isAbsent(batch.stats) ? null : {
    fullQueueDroppedSpans: dec64(batch.stats.fullQueueDroppedSpans),
    tooLargeDroppedSpans: dec64(batch.stats.tooLargeDroppedSpans),
    failedToEmitSpans: dec64(batch.stats.failedToEmitSpans),
  };
  const seqNo = dec64(batch.seqNo);
  return list(batch.spans).map((s) => ({
    format: 'jaeger',
    service: process.serviceName,
    processTags,
    seqNo,
    stats,
    traceIdLow: hex64(s.traceIdLow),
    traceIdHigh: hex64(s.traceIdHigh),
    spanId: hex64(s.spanId),
    parentSpanId: hex64(s.parentSpanId),
    operationName: s.operationName,
    references: list(s.references).map((r) => ({
      refType: enumValue(REF_TYPES, r.refType),
      traceIdLow: hex64(r.traceIdLow),
      traceIdHigh: hex64(r.traceIdHigh),
      spanId: hex64(r.spanId),
    })),
    flags: s.flags,
    startTime: dec64(s.startTime),
    duration: dec64(s.duration),
    tags: list(s.tags).map(tag),
    logs: list(s.logs).map((l) => ({timestamp: dec64(l.timestamp), fields: list(l.fields).map(tag)})),
  }));
}

function endpoint(e) {
  if (isAbsent(e)) return null;
  return {
    ipv4: isAbsent(e.ipv4) ? null : e.ipv4,
    port: isAbsent(e.port) ? null : e.port,
    serviceName: isAbsent(e.service_name) ? null : e.service_name,
    ipv6: binHex(e.ipv6),
  };
}

function zipkinSpan(s) {
  return {
    format: 'zipkin',
    traceIdHigh: hex64(s.trace_id_high),
    traceId: hex64(s.trace_id),
    id: hex64(s.id),
    parentId: hex64(s.parent_id),
    name: isAbsent(s.name) ? null : s.name,
    annotations: list(s.annotations).map((a) => ({
      timestamp: dec64(a.timestamp),
      value: isAbsent(a.value) ? null : a.value,
      host: endpoint(a.host),
    })),
    binaryAnnotations: list(s.binary_annotations).map((b) => ({
      key: isAbsent(b.key) ? null : b.key,
      value: binHex(b.value),
      annotationType: enumValue(ANNOTATION_TYPES, b.annotation_type),
      host: endpoint(b.host),
    })),
    debug: isAbsent(s.debug) ? false : !!s.debug,
    timestamp: dec64(s.timestamp),
    duration: dec64(s.duration),
  };
}

module.exports = {jaegerBatch, zipkinSpan, tag, hex64, dec64, doubleHex};
