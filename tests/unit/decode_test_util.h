// Test helpers for the decode seam:
//  * TValue: a tiny Thrift value tree with its own compact and binary encoders, so tests can
//    build messages the generated code cannot write (unknown fields, long-form headers, odd
//    field order, wrong types, raw bytes for broken varints).
//  * Oracle helpers around the Apache Thrift generated types (jagent_idl).
#pragma once

#include <thrift/protocol/TBinaryProtocol.h>
#include <thrift/protocol/TCompactProtocol.h>
#include <thrift/transport/TBufferTransports.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <random>
#include <span>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "Agent.h"
#include "jaeger_types.h"
#include "zipkincore_types.h"

namespace jagent::decode::testing {

// Seeded choices for the randomized differential tests' generators.
class RandomPicker {
 public:
  explicit RandomPicker(uint64_t seed) : rng_(seed) {}
  bool chance(int percent) { return static_cast<int>(rng_() % 100) < percent; }
  size_t upTo(size_t n) { return static_cast<size_t>(rng_() % (n + 1)); }
  template <class T, size_t N>
  const T& pick(const T (&a)[N]) { return a[upTo(N - 1)]; }

 protected:
  std::mt19937_64 rng_;
};

namespace jt = ::jaegertracing::thrift;
namespace zt = ::twitter::zipkin::thrift;
namespace at = ::jaegertracing::agent::thrift;
using ::apache::thrift::protocol::TMessageType;

using Bytes = std::vector<uint8_t>;

enum class Wire { kCompact, kBinary };

// ---- TValue ---------------------------------------------------------------------------------

// Binary-protocol type ids, plus kRaw: bytes emitted verbatim in place of a value (the field
// header still uses `declared`).
namespace tt {
inline constexpr uint8_t kBool = 2, kByte = 3, kDouble = 4, kI16 = 6, kI32 = 8, kI64 = 10, kString = 11,
                         kStruct = 12, kMap = 13, kSet = 14, kList = 15, kUuid = 16, kRaw = 0xFE;
}  // namespace tt

struct TValue {
  uint8_t type = tt::kStruct;
  uint8_t declared = 0;  // kRaw: the type written in the field header
  int64_t i = 0;
  double d = 0;
  std::string s;  // string/binary, uuid (16 bytes), raw bytes
  std::vector<std::pair<int16_t, TValue>> fields;
  uint8_t elemType = 0;  // list/set element type; map value type
  uint8_t keyType = 0;   // map key type
  std::vector<TValue> elems;  // list/set elements; map: key, value, key, value...

  TValue& add(int16_t id, TValue v) {
    fields.emplace_back(id, std::move(v));
    return *this;
  }
};

inline TValue makeValue(uint8_t type) {
  TValue v;
  v.type = type;
  return v;
}
inline TValue intValue(uint8_t type, int64_t i) {
  TValue v = makeValue(type);
  v.i = i;
  return v;
}
inline TValue tBool(bool b) { return intValue(tt::kBool, b); }
inline TValue tByte(int8_t v) { return intValue(tt::kByte, v); }
inline TValue tI16(int16_t v) { return intValue(tt::kI16, v); }
inline TValue tI32(int32_t v) { return intValue(tt::kI32, v); }
inline TValue tI64(int64_t v) { return intValue(tt::kI64, v); }
inline TValue tDouble(double d) {
  TValue v = makeValue(tt::kDouble);
  v.d = d;
  return v;
}
inline TValue tString(std::string s) {
  TValue v = makeValue(tt::kString);
  v.s = std::move(s);
  return v;
}
inline TValue tUuid() {
  TValue v = makeValue(tt::kUuid);
  v.s.assign(16, '\x42');
  return v;
}
inline TValue tStruct(std::vector<std::pair<int16_t, TValue>> f = {}) {
  TValue v = makeValue(tt::kStruct);
  v.fields = std::move(f);
  return v;
}
inline TValue container(uint8_t type, uint8_t elemType, std::vector<TValue> e) {
  TValue v = makeValue(type);
  v.elemType = elemType;
  v.elems = std::move(e);
  return v;
}
inline TValue tList(uint8_t elemType, std::vector<TValue> e = {}) { return container(tt::kList, elemType, std::move(e)); }
inline TValue tSet(uint8_t elemType, std::vector<TValue> e = {}) { return container(tt::kSet, elemType, std::move(e)); }
inline TValue tMap(uint8_t keyType, uint8_t valueType, std::vector<TValue> kv = {}) {
  TValue v = container(tt::kMap, valueType, std::move(kv));
  v.keyType = keyType;
  return v;
}
inline TValue tRaw(uint8_t declared, Bytes raw) {
  TValue v = makeValue(tt::kRaw);
  v.declared = declared;
  v.s.assign(raw.begin(), raw.end());
  return v;
}

enum class FieldForm { kShort, kLong, kMixed };

class Encoder {
 public:
  Encoder(Wire wire, FieldForm form = FieldForm::kShort) : wire_(wire), form_(form) {}

  Bytes& bytes() { return out_; }

  void value(const TValue& v) {
    if (wire_ == Wire::kCompact)
      compactValue(v);
    else
      binaryValue(v);
  }

  void envelope(const std::string& name, int type, int32_t seqId, bool strict = true) {
    if (wire_ == Wire::kCompact) {
      out_.push_back(0x82);
      out_.push_back(static_cast<uint8_t>((type << 5) | 1));
      varint(static_cast<uint32_t>(seqId));
      varint(name.size());
      out_.insert(out_.end(), name.begin(), name.end());
    } else if (strict) {
      big32(0x80010000u | static_cast<uint32_t>(type));
      big32(static_cast<uint32_t>(name.size()));
      out_.insert(out_.end(), name.begin(), name.end());
      big32(static_cast<uint32_t>(seqId));
    } else {
      big32(static_cast<uint32_t>(name.size()));
      out_.insert(out_.end(), name.begin(), name.end());
      out_.push_back(static_cast<uint8_t>(type));
      big32(static_cast<uint32_t>(seqId));
    }
  }

  void varint(uint64_t v) {
    while (v >= 0x80) {
      out_.push_back(static_cast<uint8_t>(v | 0x80));
      v >>= 7;
    }
    out_.push_back(static_cast<uint8_t>(v));
  }
  void big32(uint32_t v) {
    for (int s = 24; s >= 0; s -= 8) out_.push_back(static_cast<uint8_t>(v >> s));
  }

 private:
  static uint8_t compactType(uint8_t t) {
    switch (t) {
      case tt::kBool: return 1;
      case tt::kByte: return 3;
      case tt::kI16: return 4;
      case tt::kI32: return 5;
      case tt::kI64: return 6;
      case tt::kDouble: return 7;
      case tt::kString: return 8;
      case tt::kList: return 9;
      case tt::kSet: return 10;
      case tt::kMap: return 11;
      case tt::kStruct: return 12;
      case tt::kUuid: return 13;
      default: return t & 0x0F;  // lets a test write any nibble
    }
  }
  static uint64_t zigzag(int64_t v) { return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63); }

  void compactValue(const TValue& v) {
    switch (v.type) {
      case tt::kBool: out_.push_back(v.i ? 1 : 2); break;  // element form
      case tt::kByte: out_.push_back(static_cast<uint8_t>(v.i)); break;
      case tt::kI16:
      case tt::kI32:
      case tt::kI64: varint(zigzag(v.i)); break;
      case tt::kDouble: {
        uint64_t bits;
        std::memcpy(&bits, &v.d, 8);
        for (int k = 0; k < 8; ++k) out_.push_back(static_cast<uint8_t>(bits >> (8 * k)));
        break;
      }
      case tt::kString:
        varint(v.s.size());
        out_.insert(out_.end(), v.s.begin(), v.s.end());
        break;
      case tt::kUuid:
      case tt::kRaw: out_.insert(out_.end(), v.s.begin(), v.s.end()); break;
      case tt::kStruct: {
        int16_t last = 0;
        int n = 0;
        for (const auto& [id, fv] : v.fields) {
          const uint8_t declared = fv.type == tt::kRaw ? fv.declared : fv.type;
          uint8_t ct = compactType(declared);
          if (declared == tt::kBool && fv.type == tt::kBool) ct = fv.i ? 1 : 2;
          const int delta = id - last;
          const bool longForm = form_ == FieldForm::kLong || (form_ == FieldForm::kMixed && (n++ % 2) == 1);
          if (!longForm && delta > 0 && delta <= 15) {
            out_.push_back(static_cast<uint8_t>((delta << 4) | ct));
          } else {
            out_.push_back(ct);
            varint(zigzag(id));
          }
          last = id;
          if (fv.type != tt::kBool) compactValue(fv);
        }
        out_.push_back(0);
        break;
      }
      case tt::kList:
      case tt::kSet: {
        const size_t n = v.elems.size();
        const uint8_t ct = compactType(v.elemType);
        if (n < 15) {
          out_.push_back(static_cast<uint8_t>((n << 4) | ct));
        } else {
          out_.push_back(static_cast<uint8_t>(0xF0 | ct));
          varint(n);
        }
        for (const auto& e : v.elems) compactValue(e);
        break;
      }
      case tt::kMap: {
        const size_t n = v.elems.size() / 2;
        varint(n);
        if (n) out_.push_back(static_cast<uint8_t>((compactType(v.keyType) << 4) | compactType(v.elemType)));
        for (const auto& e : v.elems) compactValue(e);
        break;
      }
      default: throw std::logic_error("bad TValue type");
    }
  }

  void binaryValue(const TValue& v) {
    switch (v.type) {
      case tt::kBool:
      case tt::kByte: out_.push_back(static_cast<uint8_t>(v.i)); break;
      case tt::kI16:
        out_.push_back(static_cast<uint8_t>(v.i >> 8));
        out_.push_back(static_cast<uint8_t>(v.i));
        break;
      case tt::kI32: big32(static_cast<uint32_t>(v.i)); break;
      case tt::kI64:
        big32(static_cast<uint32_t>(static_cast<uint64_t>(v.i) >> 32));
        big32(static_cast<uint32_t>(v.i));
        break;
      case tt::kDouble: {
        uint64_t bits;
        std::memcpy(&bits, &v.d, 8);
        big32(static_cast<uint32_t>(bits >> 32));
        big32(static_cast<uint32_t>(bits));
        break;
      }
      case tt::kString:
        big32(static_cast<uint32_t>(v.s.size()));
        out_.insert(out_.end(), v.s.begin(), v.s.end());
        break;
      case tt::kUuid:
      case tt::kRaw: out_.insert(out_.end(), v.s.begin(), v.s.end()); break;
      case tt::kStruct:
        for (const auto& [id, fv] : v.fields) {
          out_.push_back(fv.type == tt::kRaw ? fv.declared : fv.type);
          out_.push_back(static_cast<uint8_t>(static_cast<uint16_t>(id) >> 8));
          out_.push_back(static_cast<uint8_t>(id));
          binaryValue(fv);
        }
        out_.push_back(0);
        break;
      case tt::kList:
      case tt::kSet:
        out_.push_back(v.elemType);
        big32(static_cast<uint32_t>(v.elems.size()));
        for (const auto& e : v.elems) binaryValue(e);
        break;
      case tt::kMap:
        out_.push_back(v.keyType);
        out_.push_back(v.elemType);
        big32(static_cast<uint32_t>(v.elems.size() / 2));
        for (const auto& e : v.elems) binaryValue(e);
        break;
      default: throw std::logic_error("bad TValue type");
    }
  }

  Wire wire_;
  FieldForm form_;
  Bytes out_;
};

// A whole datagram: envelope + args struct.
inline Bytes message(Wire wire, const std::string& name, const TValue& args, int type = 4, int32_t seqId = 0,
                     FieldForm form = FieldForm::kShort, bool strict = true) {
  Encoder e(wire, form);
  e.envelope(name, type, seqId, strict);
  e.value(args);
  return std::move(e.bytes());
}
inline Bytes emitBatch(Wire wire, const TValue& batch, FieldForm form = FieldForm::kShort) {
  return message(wire, "emitBatch", tStruct({{1, batch}}), 4, 0, form);
}

// A realistic small jaeger batch as a TValue (what Node clients send: all Tag fields set).
inline TValue tTag(const std::string& key, const std::string& value) {
  return tStruct({{1, tString(key)},
                  {2, tI32(0)},
                  {3, tString(value)},
                  {4, tDouble(0)},
                  {5, tBool(false)},
                  {6, tI64(0)},
                  {7, tString(std::string(8, '\0'))}});
}
inline TValue tSpan(int64_t id) {
  return tStruct({{1, tI64(-7)},
                  {2, tI64(INT64_MIN)},
                  {3, tI64(id)},
                  {4, tI64(0)},
                  {5, tString("GET /api/" + std::to_string(id))},
                  {6, tList(tt::kStruct, {tStruct({{1, tI32(0)}, {2, tI64(-7)}, {3, tI64(INT64_MIN)}, {4, tI64(1)}})})},
                  {7, tI32(1)},
                  {8, tI64(1700000000000000)},
                  {9, tI64(1234)},
                  {10, tList(tt::kStruct, {tTag("http.method", "GET"), tTag("component", "ü-日本")})},
                  {11, tList(tt::kStruct, {tStruct({{1, tI64(1700000000000001)},
                                                    {2, tList(tt::kStruct, {tTag("event", "x")})}})})}});
}
inline TValue tBatch(int spans = 2, bool withTags = true) {
  TValue process = tStruct({{1, tString("svc")}});
  if (withTags) process.add(2, tList(tt::kStruct, {tTag("hostname", "h1"), tTag("client-uuid", "abc-123")}));
  std::vector<TValue> list;
  for (int i = 0; i < spans; ++i) list.push_back(tSpan(i + 1));
  return tStruct({{1, process}, {2, tList(tt::kStruct, std::move(list))}, {3, tI64(42)}});
}

// ---- oracle ---------------------------------------------------------------------------------

using ::apache::thrift::protocol::TBinaryProtocol;
using ::apache::thrift::protocol::TCompactProtocol;
using ::apache::thrift::protocol::TProtocol;
using ::apache::thrift::transport::TMemoryBuffer;

inline std::unique_ptr<TProtocol> protocolFor(Wire wire, const std::shared_ptr<TMemoryBuffer>& buf) {
  if (wire == Wire::kCompact) return std::make_unique<TCompactProtocol>(buf);
  return std::make_unique<TBinaryProtocol>(buf);
}

inline std::shared_ptr<TMemoryBuffer> observe(std::span<const uint8_t> b) {
  return std::make_shared<TMemoryBuffer>(const_cast<uint8_t*>(b.data()), static_cast<uint32_t>(b.size()),
                                         TMemoryBuffer::OBSERVE);
}

template <class Args>
Bytes oracleMessage(Wire wire, const std::string& name, TMessageType type, int32_t seqId, const Args& args) {
  auto buf = std::make_shared<TMemoryBuffer>();
  auto proto = protocolFor(wire, buf);
  proto->writeMessageBegin(name, type, seqId);
  args.write(proto.get());
  proto->writeMessageEnd();
  uint8_t* data;
  uint32_t n;
  buf->getBuffer(&data, &n);
  return {data, data + n};
}

inline Bytes oracleEmitBatch(Wire wire, const jt::Batch& batch, TMessageType type = ::apache::thrift::protocol::T_ONEWAY) {
  at::Agent_emitBatch_args args;
  args.batch = batch;
  return oracleMessage(wire, "emitBatch", type, 7, args);
}
inline Bytes oracleEmitZipkinBatch(Wire wire, const std::vector<zt::Span>& spans,
                                   TMessageType type = ::apache::thrift::protocol::T_ONEWAY) {
  at::Agent_emitZipkinBatch_args args;
  args.spans = spans;
  return oracleMessage(wire, "emitZipkinBatch", type, 7, args);
}

// Decodes a datagram the way a generated reader would.
template <class Args>
Args oracleReadArgs(Wire wire, std::span<const uint8_t> datagram) {
  auto buf = observe(datagram);
  auto proto = protocolFor(wire, buf);
  std::string name;
  TMessageType type;
  int32_t seqId;
  proto->readMessageBegin(name, type, seqId);
  Args args;
  args.read(proto.get());
  proto->readMessageEnd();
  return args;
}
inline jt::Batch oracleReadEmitBatch(Wire wire, std::span<const uint8_t> datagram) {
  return oracleReadArgs<at::Agent_emitBatch_args>(wire, datagram).batch;
}
inline std::vector<zt::Span> oracleReadEmitZipkinBatch(Wire wire, std::span<const uint8_t> datagram) {
  return oracleReadArgs<at::Agent_emitZipkinBatch_args>(wire, datagram).spans;
}

// Decodes transcoder output: one binary Batch struct, nothing after it.
inline jt::Batch oracleReadBatch(std::span<const uint8_t> out) {
  auto buf = observe(out);
  TBinaryProtocol proto(buf);
  jt::Batch b;
  b.read(&proto);
  if (buf->available_read() != 0) throw std::runtime_error("bytes left after Batch");
  return b;
}
// Decodes transcoder output: n binary zipkin Span structs back to back, nothing after them.
inline std::vector<zt::Span> oracleReadSpans(std::span<const uint8_t> out, size_t n) {
  auto buf = observe(out);
  TBinaryProtocol proto(buf);
  std::vector<zt::Span> spans(n);
  for (auto& s : spans) s.read(&proto);
  if (buf->available_read() != 0) throw std::runtime_error("bytes left after spans");
  return spans;
}

// A batch shaped like performance-anchors.md §4b: per span a 24-char operation name, 10 tags
// (6 strings of 12-64 chars, 2 longs, 1 bool, 1 double), a 2-field log on 25 % of spans and a
// CHILD_OF reference on 50 %. ~120 spans make a ~55-64 KB compact datagram. Deterministic.
inline jt::Batch realisticBatch(int spans) {
  jt::Batch b;
  b.process.serviceName = "checkout-service";
  const auto str = [](const std::string& k, std::string v) {
    jt::Tag t;
    t.key = k;
    t.vType = jt::TagType::STRING;
    t.__set_vStr(std::move(v));
    return t;
  };
  b.process.__set_tags({str("hostname", "node-17.eu-west-1.compute.internal"), str("ip", "10.1.17.4"),
                        str("client-uuid", "79f3ceb4-011d-43ad-962b-44d354250b8a"), str("jaeger.version", "Go-2.30.0")});
  uint64_t x = 0x9E3779B97F4A7C15ull;
  const auto next = [&x]() {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return x;
  };
  for (int i = 0; i < spans; ++i) {
    jt::Span s;
    s.traceIdLow = static_cast<int64_t>(next());
    s.traceIdHigh = static_cast<int64_t>(next());
    s.spanId = static_cast<int64_t>(next());
    s.parentSpanId = (i % 2) ? static_cast<int64_t>(next()) : 0;
    s.operationName = "HTTP GET /api/v1/cart/" + std::to_string(100 + i % 900);
    s.operationName.resize(24, 'x');
    s.flags = 1;
    s.startTime = 1700000000000000 + i * 1000;
    s.duration = 1000 + static_cast<int64_t>(next() % 100000);
    std::vector<jt::Tag> tags;
    for (int k = 0; k < 6; ++k) {
      const size_t len = 12 + static_cast<size_t>(next() % 53);
      std::string v(len, 'a');
      for (auto& c : v) c = static_cast<char>('a' + next() % 26);
      tags.push_back(str("tag.string." + std::to_string(k), v));
    }
    for (int k = 0; k < 2; ++k) {
      jt::Tag t;
      t.key = k ? "http.status_code" : "peer.port";
      t.vType = jt::TagType::LONG;
      t.__set_vLong(static_cast<int64_t>(next() % 65536));
      tags.push_back(t);
    }
    jt::Tag bt;
    bt.key = "error";
    bt.vType = jt::TagType::BOOL;
    bt.__set_vBool(i % 7 == 0);
    tags.push_back(bt);
    jt::Tag dt;
    dt.key = "sampler.param";
    dt.vType = jt::TagType::DOUBLE;
    dt.__set_vDouble(0.001 * static_cast<double>(i));
    tags.push_back(dt);
    s.__set_tags(tags);
    if (i % 4 == 0) {
      jt::Log l;
      l.timestamp = s.startTime + 10;
      l.fields = {str("event", "cache miss"), str("message", "fetching cart from the database")};
      s.__set_logs({l});
    }
    if (i % 2 == 0) {
      jt::SpanRef r;
      r.refType = jt::SpanRefType::CHILD_OF;
      r.traceIdLow = s.traceIdLow;
      r.traceIdHigh = s.traceIdHigh;
      r.spanId = static_cast<int64_t>(next());
      s.__set_references({r});
    }
    b.spans.push_back(std::move(s));
  }
  b.__set_seqNo(17);
  return b;
}

}  // namespace jagent::decode::testing
