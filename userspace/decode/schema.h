// Field ids of the structs the transcoder understands (idl/jaeger.thrift, idl/zipkincore.thrift,
// idl/agent.thrift; wire-protocols.md §3). The wire type of each field is stated where the walker
// (walker.h) handles it; a known id arriving with another type is kWrongFieldType, any other id
// is skipped and dropped from the output.
#pragma once

#include <cstdint>

namespace jagent::decode::schema {

// ---- agent.thrift: the args structs of the two oneway methods ----
struct EmitBatchArgs {  // emitBatch(1: jaeger.Batch batch)
  enum : int16_t { kBatch = 1 };
};
struct EmitZipkinBatchArgs {  // emitZipkinBatch(1: list<zipkincore.Span> spans)
  enum : int16_t { kSpans = 1 };
};

// ---- jaeger.thrift ----
struct Tag {  // key string, vType i32 (TagType), vStr string, vDouble double, vBool bool,
              // vLong i64, vBinary binary
  enum : int16_t { kKey = 1, kVType = 2, kVStr = 3, kVDouble = 4, kVBool = 5, kVLong = 6, kVBinary = 7 };
  static constexpr int32_t kTypeString = 0;  // TagType.STRING
};
struct Log {  // timestamp i64, fields list<Tag>
  enum : int16_t { kTimestamp = 1, kFields = 2 };
};
struct SpanRef {  // refType i32 (SpanRefType), traceIdLow/High i64, spanId i64
  enum : int16_t { kRefType = 1, kTraceIdLow = 2, kTraceIdHigh = 3, kSpanId = 4 };
};
struct Span {  // ids/times i64, operationName string, references list<SpanRef>, flags i32,
               // tags list<Tag>, logs list<Log>
  enum : int16_t {
    kTraceIdLow = 1,
    kTraceIdHigh = 2,
    kSpanId = 3,
    kParentSpanId = 4,
    kOperationName = 5,
    kReferences = 6,
    kFlags = 7,
    kStartTime = 8,
    kDuration = 9,
    kTags = 10,
    kLogs = 11,
  };
};
struct Process {  // serviceName string (required), tags list<Tag>
  enum : int16_t { kServiceName = 1, kTags = 2 };
};
struct ClientStats {  // three i64 counters
  enum : int16_t { kFullQueueDroppedSpans = 1, kTooLargeDroppedSpans = 2, kFailedToEmitSpans = 3 };
};
struct Batch {  // process Process (required), spans list<Span> (required), seqNo i64, stats ClientStats
  enum : int16_t { kProcess = 1, kSpans = 2, kSeqNo = 3, kStats = 4 };
};

// ---- zipkincore.thrift ----
struct Endpoint {  // ipv4 i32, port i16, service_name string, ipv6 binary
  enum : int16_t { kIpv4 = 1, kPort = 2, kServiceName = 3, kIpv6 = 4 };
};
struct Annotation {  // timestamp i64, value string, host Endpoint
  enum : int16_t { kTimestamp = 1, kValue = 2, kHost = 3 };
};
struct BinaryAnnotation {  // key string, value binary, annotation_type i32, host Endpoint
  enum : int16_t { kKey = 1, kValue = 2, kAnnotationType = 3, kHost = 4 };
};
struct ZipkinSpan {  // ids/times i64, name string, annotations list<Annotation>,
                     // binary_annotations list<BinaryAnnotation>, debug bool
  enum : int16_t {
    kTraceId = 1,
    kName = 3,
    kId = 4,
    kParentId = 5,
    kAnnotations = 6,
    kBinaryAnnotations = 8,
    kDebug = 9,
    kTimestamp = 10,
    kDuration = 11,
    kTraceIdHigh = 12,
  };
};

}  // namespace jagent::decode::schema
