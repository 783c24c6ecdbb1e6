# The UDP service that Jaeger clients call (jaeger-idl thrift/agent.thrift;
# ../shared/reference/wire-protocols.md §3.2). Both methods are oneway.

include "jaeger.thrift"
include "zipkincore.thrift"

namespace cpp jaegertracing.agent.thrift

service Agent {
  oneway void emitZipkinBatch(1: list<zipkincore.Span> spans)
  oneway void emitBatch(1: jaeger.Batch batch)
}
