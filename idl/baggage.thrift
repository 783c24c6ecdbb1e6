# Baggage restrictions (jaeger-idl thrift/baggage.thrift before its removal in 2025;
# ../shared/reference/wire-protocols.md §3.5).

namespace cpp jaegertracing.thrift

struct BaggageRestriction {
  1: required string baggageKey
  2: required i32 maxValueLength
}

service BaggageRestrictionManager {
  list<BaggageRestriction> getBaggageRestrictions(1: string serviceName)
}
