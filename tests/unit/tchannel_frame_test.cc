// Tests for the TChannel frame codec against the bytes captured from tchannel-node 4.0.1
// (tests/data/tchannel_small_call_dump.txt, tests/data/frag_frames.json) plus hostile inputs.
#include "test_support.h"
#include "report/tchannel_frame.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace jagent::report::tchannel {
namespace {

using Bytes = std::vector<uint8_t>;
using Status = CallAssembler::Status;

std::span<const uint8_t> asBytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

std::string readFile(const std::string& name) { return jagent::testing::readTestText(name); }

Bytes fromHex(std::string_view hex) {
  Bytes out;
  int hi = -1;
  for (char c : hex) {
    int v;
    if (c >= '0' && c <= '9') v = c - '0';
    else if (c >= 'a' && c <= 'f') v = c - 'a' + 10;
    else if (c >= 'A' && c <= 'F') v = c - 'A' + 10;
    else continue;  // spaces, newlines
    if (hi < 0) {
      hi = v;
    } else {
      out.push_back(static_cast<uint8_t>(hi << 4 | v));
      hi = -1;
    }
  }
  EXPECT_LT(hi, 0) << "odd number of hex digits";
  return out;
}

// The dump holds payloads only ("C->S type=0x3 id=2 size=251" then a hex line); rebuild the
// whole frames, header included.
struct DumpFrame {
  std::string dir;
  Bytes frame;
};
std::vector<DumpFrame> loadDump() {
  std::vector<DumpFrame> frames;
  std::istringstream in(readFile("tchannel_small_call_dump.txt"));
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("C->S type=", 0) != 0 && line.rfind("S->C type=", 0) != 0) continue;
    unsigned type = 0, id = 0, size = 0;
    EXPECT_EQ(std::sscanf(line.c_str() + 5, "type=0x%x id=%u size=%u", &type, &id, &size), 3) << line;
    std::string hex;
    std::getline(in, hex);
    Bytes payload = fromHex(hex);
    EXPECT_EQ(payload.size() + kFrameHeaderSize, size) << line;
    Bytes f(kFrameHeaderSize, 0);
    f[0] = static_cast<uint8_t>(size >> 8);
    f[1] = static_cast<uint8_t>(size);
    f[2] = static_cast<uint8_t>(type);
    f[4] = static_cast<uint8_t>(id >> 24);
    f[5] = static_cast<uint8_t>(id >> 16);
    f[6] = static_cast<uint8_t>(id >> 8);
    f[7] = static_cast<uint8_t>(id);
    f.insert(f.end(), payload.begin(), payload.end());
    frames.push_back({line.substr(0, 4), std::move(f)});
  }
  return frames;
}

// frag_frames.json: [{"dir": "C->S", "hex": "<whole frame>"}, ...]: init req, init res, the 3
// frames of the fragmented call, the call res.
std::vector<DumpFrame> loadFrag() {
  std::vector<DumpFrame> frames;
  const auto json = nlohmann::json::parse(readFile("frag_frames.json"));
  for (const auto& f : json) frames.push_back({f.at("dir").get<std::string>(), fromHex(f.at("hex").get<std::string>())});
  return frames;
}

FrameView viewOf(const Bytes& frame) {
  FrameView v;
  size_t consumed = 0;
  EXPECT_EQ(parseFrame(frame, v, consumed), ParseStatus::kOk);
  EXPECT_EQ(consumed, frame.size());
  return v;
}

// Splits an encoder's output back into frames.
std::vector<FrameView> splitFrames(std::span<const uint8_t> stream) {
  std::vector<FrameView> frames;
  while (!stream.empty()) {
    FrameView v;
    size_t consumed = 0;
    if (parseFrame(stream, v, consumed) != ParseStatus::kOk) {
      ADD_FAILURE() << "trailing bytes that are not a frame";
      break;
    }
    frames.push_back(v);
    stream = stream.subspan(consumed);
  }
  return frames;
}

// Index of the first differing byte, or -1 if equal (keeps failures on 190 KB vectors readable).
long firstDiff(std::span<const uint8_t> a, std::span<const uint8_t> b) {
  const size_t n = std::min(a.size(), b.size());
  for (size_t i = 0; i < n; ++i) {
    if (a[i] != b[i]) return static_cast<long>(i);
  }
  return a.size() == b.size() ? -1 : static_cast<long>(n);
}

uint32_t be32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

// Where a call frame's args start and what its checksum field says, found by walking the
// fixed fields independently of the code under test.
struct FrameLayout {
  size_t size = 0;
  uint8_t flags = 0;
  uint8_t checksumType = 0;
  uint32_t checksum = 0;
  std::vector<size_t> chunks;
};
FrameLayout layoutOf(const FrameView& f) {
  FrameLayout l;
  const auto& p = f.payload;
  l.size = p.size() + kFrameHeaderSize;
  size_t off = 0;
  l.flags = p[off++];
  if (f.type == 0x03 || f.type == 0x04) {
    off += (f.type == 0x03 ? 4 : 1) + 25;
    if (f.type == 0x03) off += 1 + p[off];  // service~1
    const size_t nh = p[off++];
    for (size_t i = 0; i < nh; ++i) {
      off += 1 + p[off];
      off += 1 + p[off];
    }
  }
  l.checksumType = p[off++];
  if (l.checksumType != 0) {
    l.checksum = be32(&p[off]);
    off += 4;
  }
  while (off + 2 <= p.size()) {
    const size_t n = size_t{p[off]} << 8 | p[off + 1];
    l.chunks.push_back(n);
    off += 2 + n;
  }
  EXPECT_EQ(off, p.size());
  return l;
}

std::vector<Header> viewsOf(const std::vector<std::pair<std::string, std::string>>& headers) {
  std::vector<Header> out;
  for (const auto& [k, v] : headers) out.emplace_back(k, v);
  return out;
}

Bytes concat(std::initializer_list<std::span<const uint8_t>> parts) {
  Bytes out;
  for (auto p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

// Splits `data` into pieces of the given sizes (cycled), to exercise the pieces interface.
std::vector<std::span<const uint8_t>> piecesOf(std::span<const uint8_t> data, std::vector<size_t> sizes) {
  std::vector<std::span<const uint8_t>> pieces;
  size_t i = 0;
  while (!data.empty()) {
    const size_t n = std::min(sizes[i++ % sizes.size()], data.size());
    pieces.push_back(data.first(n));
    data = data.subspan(n);
  }
  return pieces;
}

Bytes pattern(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  Bytes b(n);
  for (auto& x : b) x = static_cast<uint8_t>(rng());
  return b;
}

// spanid, parentid (root span: zero), traceid (= spanid), traceflags, as captured.
const Tracing kSmallTracing{0xba, 0xfe, 0x72, 0xda, 0x67, 0x34, 0x9e, 0xd7,  //
                            0, 0, 0, 0, 0, 0, 0, 0,                          //
                            0xba, 0xfe, 0x72, 0xda, 0x67, 0x34, 0x9e, 0xd7,  //
                            0};
const Header kNodeClientHeaders[] = {{"cn", "my-agent"}, {"as", "thrift"}, {"re", "c"}};
constexpr std::string_view kSubmitBatches = "Collector::submitBatches";

// ---- Checksums -------------------------------------------------------------------------------

TEST(TChannelFrameCrc, CheckValues) {
  EXPECT_EQ(crc32c(asBytes("123456789")), 0xE3069283U);
  EXPECT_EQ(detail::crc32cPortable(asBytes("123456789"), 0), 0xE3069283U);
  EXPECT_EQ(crc32(asBytes("123456789")), 0xCBF43926U);
  EXPECT_EQ(crc32c({}), 0U);
  EXPECT_EQ(crc32({}, 0x12345678U), 0x12345678U);
  // Longer vectors computed with Python (zlib.crc32 and a bitwise CRC-32C).
  Bytes d(1000);
  for (size_t i = 0; i < d.size(); ++i) d[i] = static_cast<uint8_t>(i * 31 + 7);
  EXPECT_EQ(crc32(d), 0x8902161EU);
  EXPECT_EQ(crc32c(d), 0xFF52EE97U);
  EXPECT_EQ(detail::crc32cPortable(d, 0), 0xFF52EE97U);
}

TEST(TChannelFrameCrc, ChainingAtEverySplit) {
  const Bytes d = pattern(300, 1);
  const std::span<const uint8_t> s(d);
  const uint32_t whole32 = crc32(s), whole32c = crc32c(s);
  for (size_t cut = 0; cut <= d.size(); ++cut) {
    EXPECT_EQ(crc32(s.subspan(cut), crc32(s.first(cut))), whole32) << cut;
    EXPECT_EQ(crc32c(s.subspan(cut), crc32c(s.first(cut))), whole32c) << cut;
  }
  EXPECT_EQ(updateChecksum(ChecksumType::kCrc32, s, 0), whole32);
  EXPECT_EQ(updateChecksum(ChecksumType::kCrc32c, s, 0), whole32c);
  EXPECT_EQ(updateChecksum(ChecksumType::kNone, s, 77), 77U);
}

TEST(TChannelFrameCrc, HardwareMatchesPortable) {
  if (!detail::hasHardwareCrc32c()) GTEST_SKIP() << "no SSE4.2";
  // Lengths around the 3-stream block sizes (3 × 256 and 3 × 8192 bytes) and well past them.
  const Bytes d = pattern(100'000 + 8, 2);
  for (size_t off = 0; off < 8; ++off) {
    for (size_t len : {0, 1, 7, 8, 9, 15, 16, 63, 64, 65, 767, 768, 769, 1000, 4096, 24575, 24576, 24577, 25344,
                       65536, 100'000}) {
      const auto s = std::span<const uint8_t>(d).subspan(off, len);
      EXPECT_EQ(detail::crc32cHardware(s, 0x1234567U), detail::crc32cPortable(s, 0x1234567U)) << off << " " << len;
    }
  }
}

// ---- Golden vectors from tchannel-node 4.0.1 -------------------------------------------------

TEST(TChannelFrameGolden, InitReqByteForByte) {
  const auto dump = loadDump();
  ASSERT_EQ(dump.size(), 4U);
  const Header h[] = {{"host_port", "0.0.0.0:0"},
                      {"process_name", "node[13745]"},
                      {"tchannel_language", "node"},
                      {"tchannel_language_version", "20.20.2"},
                      {"tchannel_version", "4.0.1"}};
  Bytes out;
  ASSERT_TRUE(appendInitReq(out, 1, h));
  EXPECT_EQ(out, dump[0].frame);

  // The other capture, compared header and all.
  const auto frag = loadFrag();
  const Header h2[] = {{"host_port", "0.0.0.0:0"},
                       {"process_name", "node[12813]"},
                       {"tchannel_language", "node"},
                       {"tchannel_language_version", "20.20.2"},
                       {"tchannel_version", "4.0.1"}};
  out.clear();
  ASSERT_TRUE(appendInitReq(out, 1, h2));
  EXPECT_EQ(out, frag[0].frame);
}

TEST(TChannelFrameGolden, InitResParsed) {
  for (const auto& [frame, hostPort] : {std::pair{loadDump()[1].frame, "127.0.0.1:36791"},
                                        std::pair{loadFrag()[1].frame, "127.0.0.1:42261"}}) {
    const FrameView v = viewOf(frame);
    EXPECT_EQ(v.type, static_cast<uint8_t>(FrameType::kInitRes));
    EXPECT_EQ(v.id, 1U);
    InitView init;
    ASSERT_TRUE(parseInit(v.payload, init));
    EXPECT_EQ(init.version, 2);
    ASSERT_EQ(init.headers.size(), 5U);
    EXPECT_EQ(init.get("host_port"), hostPort);
    EXPECT_EQ(init.get("tchannel_language"), "node");
    EXPECT_EQ(init.get("tchannel_version"), "4.0.1");
    EXPECT_EQ(init.get("absent"), "");

    // Re-encoding the parsed headers as an init res gives the same frame back.
    Bytes out;
    ASSERT_TRUE(appendInitRes(out, 1, init.headers));
    EXPECT_EQ(out, frame);
  }
}

TEST(TChannelFrameGolden, SmallCallReqByteForByte) {
  const Bytes captured = loadDump()[2].frame;
  ASSERT_EQ(captured.size(), 251U);
  // arg3 sits after the 80-byte fixed part, arg1 (2+24) and arg2 (2+2) and its own length.
  const std::span<const uint8_t> payload = std::span<const uint8_t>(captured).subspan(kFrameHeaderSize);
  ASSERT_EQ(payload[110], 0x00);
  ASSERT_EQ(payload[111], 0x7b);
  const auto arg3 = payload.subspan(112, 123);
  const auto pieces = piecesOf(arg3, {50, 1, 0, 72});

  CallReq req;
  req.id = 2;
  req.ttlMs = 983;
  req.tracing = kSmallTracing;
  req.service = "jaeger-collector";
  req.headers = kNodeClientHeaders;
  req.checksum = ChecksumType::kCrc32c;
  req.arg1 = asBytes(kSubmitBatches);
  req.arg2 = kEmptyThriftHeaders;
  req.arg3 = pieces;
  Bytes out = {0xAA};  // appends, never overwrites
  ASSERT_TRUE(appendCallReq(out, req));
  ASSERT_EQ(out.size(), 1 + captured.size());
  EXPECT_EQ(out[0], 0xAA);
  EXPECT_EQ(firstDiff(std::span<const uint8_t>(out).subspan(1), captured), -1);

  // The checksum is the CRC32C of arg1‖arg2‖arg3 (wire-protocols.md §1.12: c6 28 3f 70).
  const Bytes args = concat({asBytes(kSubmitBatches), kEmptyThriftHeaders, arg3});
  EXPECT_EQ(crc32c(args), 0xc6283f70U);
  EXPECT_EQ(layoutOf(viewOf(captured)).checksum, 0xc6283f70U);
}

TEST(TChannelFrameGolden, SmallCallReqParsed) {
  const Bytes captured = loadDump()[2].frame;
  CallAssembler a;
  ASSERT_EQ(a.feed(viewOf(captured)), Status::kComplete);
  EXPECT_TRUE(a.isRequest());
  EXPECT_EQ(a.id(), 2U);
  EXPECT_EQ(a.flags(), 0);
  EXPECT_EQ(a.ttlMs(), 983U);
  EXPECT_EQ(a.tracing(), kSmallTracing);
  EXPECT_EQ(a.service(), "jaeger-collector");
  ASSERT_EQ(a.headers().size(), 3U);
  EXPECT_EQ(a.header("cn"), "my-agent");
  EXPECT_EQ(a.header("as"), "thrift");
  EXPECT_EQ(a.header("re"), "c");
  EXPECT_EQ(a.checksumType(), ChecksumType::kCrc32c);
  EXPECT_EQ(a.checksum(), 0xc6283f70U);
  EXPECT_EQ(a.frames(), 1U);
  EXPECT_EQ(std::string(a.arg1().begin(), a.arg1().end()), kSubmitBatches);
  EXPECT_EQ(a.arg2(), Bytes(kEmptyThriftHeaders.begin(), kEmptyThriftHeaders.end()));
  ASSERT_EQ(a.arg3().size(), 123U);
  EXPECT_EQ(a.arg3()[0], 0x0f);  // list field header of Collector_submitBatches_args
}

TEST(TChannelFrameGolden, SmallCallResParsedAndReproduced) {
  const Bytes captured = loadDump()[3].frame;
  CallAssembler a;
  ASSERT_EQ(a.feed(viewOf(captured)), Status::kComplete);
  EXPECT_FALSE(a.isRequest());
  EXPECT_EQ(a.id(), 2U);
  EXPECT_EQ(a.code(), 0);
  EXPECT_EQ(a.tracing(), kSmallTracing);
  EXPECT_EQ(a.header("as"), "thrift");
  EXPECT_EQ(a.checksumType(), ChecksumType::kCrc32c);
  EXPECT_TRUE(a.arg1().empty());
  EXPECT_EQ(a.arg2(), Bytes({0, 0}));
  const Bytes arg3 = fromHex("0f 00 00 0c 00 00 00 01 02 00 01 01 00 00");  // {0: [{1: true}]}
  EXPECT_EQ(a.arg3(), arg3);

  // The same response from our encoder (the C++ collector sink uses it).
  const Header h[] = {{"as", "thrift"}};
  const std::span<const uint8_t> pieces[] = {arg3};
  CallRes res;
  res.id = 2;
  res.code = 0;
  res.tracing = kSmallTracing;
  res.headers = h;
  res.checksum = ChecksumType::kCrc32c;
  res.arg2 = kEmptyThriftHeaders;
  res.arg3 = pieces;
  Bytes out;
  ASSERT_TRUE(appendCallRes(out, res));
  EXPECT_EQ(out, captured);
}

TEST(TChannelFrameGolden, FragmentedCallReproducedByteForByte) {
  const auto frag = loadFrag();
  ASSERT_EQ(frag.size(), 6U);
  const std::vector<Bytes> captured = {frag[2].frame, frag[3].frame, frag[4].frame};

  // Reassemble what tchannel-node sent...
  CallAssembler a;
  EXPECT_EQ(a.feed(viewOf(captured[0])), Status::kIncomplete);
  EXPECT_EQ(a.feed(viewOf(captured[1])), Status::kIncomplete);
  ASSERT_EQ(a.feed(viewOf(captured[2])), Status::kComplete);
  EXPECT_EQ(a.frames(), 3U);
  EXPECT_EQ(a.flags(), kFlagMoreFragments);
  EXPECT_EQ(a.service(), "jaeger-collector");
  EXPECT_EQ(std::string(a.arg1().begin(), a.arg1().end()), kSubmitBatches);
  EXPECT_EQ(a.arg2(), Bytes({0, 0}));
  ASSERT_EQ(a.arg3().size(), 65407U + 65511U + 64512U);

  // ...and encode it again, arg3 in awkward pieces.
  const auto headers = viewsOf(a.headers());
  const auto pieces = piecesOf(a.arg3(), {1, 4095, 0, 65537, 3, 77777});
  CallReq req;
  req.id = a.id();
  req.ttlMs = a.ttlMs();
  req.tracing = a.tracing();
  req.service = a.service();
  req.headers = headers;
  req.checksum = a.checksumType();
  req.arg1 = a.arg1();
  req.arg2 = a.arg2();
  req.arg3 = pieces;
  Bytes out;
  ASSERT_TRUE(appendCallReq(out, req));

  const auto frames = splitFrames(out);
  ASSERT_EQ(frames.size(), 3U);
  size_t off = 0;
  for (size_t i = 0; i < 3; ++i) {
    const size_t size = frames[i].payload.size() + kFrameHeaderSize;
    EXPECT_EQ(size, captured[i].size()) << "frame " << i;
    EXPECT_EQ(firstDiff(std::span<const uint8_t>(out).subspan(off, size), captured[i]), -1) << "frame " << i;
    off += size;
  }

  // The checksums: running CRC32C over the arg bytes carried so far (§1.7).
  const std::vector<uint32_t> expected = {0x9d5e875bU, 0x5577502cU, 0x0b78c409U};
  const std::vector<std::vector<size_t>> chunks = {{24, 2, 65407}, {65511}, {64512}};
  const Bytes all = concat({a.arg1(), a.arg2(), a.arg3()});
  size_t carried = 0;
  for (size_t i = 0; i < 3; ++i) {
    const FrameLayout l = layoutOf(frames[i]);
    EXPECT_EQ(l.chunks, chunks[i]);
    EXPECT_EQ(l.flags, i < 2 ? kFlagMoreFragments : 0);
    for (size_t c : l.chunks) carried += c;
    EXPECT_EQ(l.checksum, expected[i]);
    EXPECT_EQ(l.checksum, crc32c(std::span<const uint8_t>(all).first(carried)));
    EXPECT_EQ(layoutOf(viewOf(captured[i])).checksum, expected[i]);
  }
  EXPECT_EQ(carried, all.size());
}

TEST(TChannelFrameGolden, FragmentedCallResponseParsed) {
  const Bytes captured = loadFrag()[5].frame;
  const FrameView v = viewOf(captured);
  EXPECT_EQ(v.type, static_cast<uint8_t>(FrameType::kCallRes));
  EXPECT_EQ(v.id, 2U);
  CallAssembler a;
  ASSERT_EQ(a.feed(v), Status::kComplete);
  EXPECT_EQ(a.code(), 0);
  EXPECT_EQ(a.header("as"), "thrift");
  EXPECT_EQ(a.checksumType(), ChecksumType::kCrc32c);
  EXPECT_TRUE(a.arg1().empty());
  EXPECT_EQ(a.arg2(), Bytes({0, 0}));
  // One BatchSubmitResponse{ok=true}: {0: list<struct>[1] {1: true}}.
  EXPECT_EQ(a.arg3(), fromHex("0f 00 00 0c 00 00 00 01 02 00 01 01 00 00"));
}

// ---- Other frames ----------------------------------------------------------------------------

TEST(TChannelFrameParse, ErrorRoundTrip) {
  Tracing t{};
  for (size_t i = 0; i < t.size(); ++i) t[i] = static_cast<uint8_t>(i + 1);
  Bytes out;
  appendError(out, 7, ErrorCode::kBusy, t, "server is busy");
  const FrameView v = viewOf(out);
  EXPECT_EQ(v.type, static_cast<uint8_t>(FrameType::kError));
  EXPECT_EQ(v.id, 7U);
  ErrorView e;
  ASSERT_TRUE(parseError(v.payload, e));
  EXPECT_EQ(e.code, ErrorCode::kBusy);
  EXPECT_EQ(e.tracing, t);
  EXPECT_EQ(e.message, "server is busy");
  EXPECT_STREQ(errorCodeName(e.code), "busy");
  EXPECT_STREQ(errorCodeName(ErrorCode::kBadRequest), "bad_request");
  EXPECT_STREQ(errorCodeName(static_cast<ErrorCode>(0x42)), "unknown");
  EXPECT_STREQ(frameTypeName(0x13), "call_req_continue");

  // Truncated anywhere, or with a trailing byte: rejected.
  for (size_t n = 0; n < v.payload.size(); ++n) EXPECT_FALSE(parseError(v.payload.first(n), e)) << n;
  Bytes longer(v.payload.begin(), v.payload.end());
  longer.push_back(0);
  EXPECT_FALSE(parseError(longer, e));

  // A message too long for a frame is cut to fit.
  const std::string huge(70000, 'x');
  out.clear();
  appendError(out, kNullFrameId, ErrorCode::kFatal, t, huge);
  ASSERT_EQ(out.size(), kMaxFrameSize);
  ASSERT_TRUE(parseError(viewOf(out).payload, e));
  EXPECT_EQ(e.message.size(), kMaxFrameSize - kFrameHeaderSize - 28);
  EXPECT_EQ(viewOf(out).id, kNullFrameId);
}

TEST(TChannelFrameParse, PingFrames) {
  Bytes out;
  appendPingReq(out, 9);
  appendPingRes(out, 9);
  const auto frames = splitFrames(out);
  ASSERT_EQ(frames.size(), 2U);
  EXPECT_EQ(frames[0].type, 0xD0);
  EXPECT_EQ(frames[1].type, 0xD1);
  EXPECT_EQ(frames[1].id, 9U);
  EXPECT_TRUE(frames[0].payload.empty());
  EXPECT_EQ(out.size(), 32U);
}

TEST(TChannelFrameParse, StreamSplitting) {
  FrameView v;
  size_t consumed = 0;
  const Bytes tooSmall = {0x00, 0x0f, 0x01};
  EXPECT_EQ(parseFrame(tooSmall, v, consumed), ParseStatus::kMalformed);
  EXPECT_EQ(parseFrame({}, v, consumed), ParseStatus::kNeedMore);

  const auto dump = loadDump();
  Bytes stream;
  for (const auto& f : dump) stream.insert(stream.end(), f.frame.begin(), f.frame.end());
  // Every prefix shorter than the first frame asks for more.
  for (size_t n = 0; n < dump[0].frame.size(); ++n) {
    EXPECT_EQ(parseFrame(std::span<const uint8_t>(stream).first(n), v, consumed), ParseStatus::kNeedMore) << n;
  }
  const auto frames = splitFrames(stream);
  ASSERT_EQ(frames.size(), 4U);
  EXPECT_EQ(frames[2].type, 0x03);
  EXPECT_EQ(frames[2].id, 2U);
  EXPECT_EQ(frames[2].payload.size(), 251U - 16U);
}

TEST(TChannelFrameParse, InitRejectsBadPayloads) {
  const Bytes initReq = loadDump()[0].frame;
  const FrameView v = viewOf(initReq);
  InitView init;
  ASSERT_TRUE(parseInit(v.payload, init));
  for (size_t n = 0; n < v.payload.size(); ++n) EXPECT_FALSE(parseInit(v.payload.first(n), init)) << n;
  Bytes longer(v.payload.begin(), v.payload.end());
  longer.push_back(0);
  EXPECT_FALSE(parseInit(longer, init));
  // A header count far beyond the bytes present: fails without a big allocation.
  const Bytes lying = {0x00, 0x02, 0xff, 0xff, 0x00, 0x01, 'k'};
  EXPECT_FALSE(parseInit(lying, init));

  // Too big for one frame: refused, nothing appended.
  const std::string big(70000, 'v');
  const Header h[] = {{"k", big}};
  Bytes out;
  EXPECT_FALSE(appendInitReq(out, 1, h));
  EXPECT_TRUE(out.empty());
}

TEST(TChannelFrameThrift, Arg2Headers) {
  std::vector<Header> parsed;
  ASSERT_TRUE(parseThriftHeaders(kEmptyThriftHeaders, parsed));
  EXPECT_TRUE(parsed.empty());
  EXPECT_FALSE(parseThriftHeaders({}, parsed));  // a zero-length arg2 is rejected by both peers

  const Header h[] = {{"$tracing$uber-trace-id", "abc"}, {"empty", ""}};
  Bytes out;
  ASSERT_TRUE(appendThriftHeaders(out, h));
  EXPECT_EQ(out.size(), 2 + 4 + 22 + 3 + 4 + 5);
  ASSERT_TRUE(parseThriftHeaders(out, parsed));
  ASSERT_EQ(parsed.size(), 2U);
  EXPECT_EQ(parsed[0], h[0]);
  EXPECT_EQ(parsed[1], h[1]);
  for (size_t n = 0; n < out.size(); ++n) EXPECT_FALSE(parseThriftHeaders(std::span<const uint8_t>(out).first(n), parsed));
  out.push_back(0);
  EXPECT_FALSE(parseThriftHeaders(out, parsed));
}

// ---- Hostile input ---------------------------------------------------------------------------

// Returns the captured single-frame call with the checksum type switched to `type` (and the
// checksum recomputed), so the malformed-input tests cover every type.
Bytes smallCall(ChecksumType type) {
  const Bytes captured = loadDump()[2].frame;
  CallAssembler a;
  EXPECT_EQ(a.feed(viewOf(captured)), Status::kComplete);
  const std::span<const uint8_t> pieces[] = {a.arg3()};
  const auto headers = viewsOf(a.headers());
  CallReq req;
  req.id = 2;
  req.ttlMs = 983;
  req.tracing = a.tracing();
  req.service = a.service();
  req.headers = headers;
  req.checksum = type;
  req.arg1 = a.arg1();
  req.arg2 = a.arg2();
  req.arg3 = pieces;
  Bytes out;
  EXPECT_TRUE(appendCallReq(out, req));
  return out;
}

TEST(TChannelFrameMalformed, TruncatedAtEveryByte) {
  for (auto type : {ChecksumType::kNone, ChecksumType::kCrc32, ChecksumType::kCrc32c}) {
    const Bytes frame = smallCall(type);
    const FrameView full = viewOf(frame);
    for (size_t n = 0; n < full.payload.size(); ++n) {
      FrameView cut = full;
      cut.payload = full.payload.first(n);
      CallAssembler a;
      const Status s = a.feed(cut);
      EXPECT_TRUE(s == Status::kMalformed || s == Status::kBadChecksum)
          << "type " << int(type) << " cut at " << n << " status " << int(s);
    }
  }
  // The fragmented capture, each frame cut at every byte after its predecessors went in whole.
  const auto frag = loadFrag();
  for (size_t i = 2; i <= 4; ++i) {
    const FrameView full = viewOf(frag[i].frame);
    for (size_t n = 0; n < full.payload.size(); n += (n < 200 ? 1 : 997)) {
      CallAssembler a;
      for (size_t j = 2; j < i; ++j) ASSERT_EQ(a.feed(viewOf(frag[j].frame)), Status::kIncomplete);
      FrameView cut = full;
      cut.payload = full.payload.first(n);
      const Status s = a.feed(cut);
      EXPECT_TRUE(s == Status::kMalformed || s == Status::kBadChecksum) << "frame " << i << " cut at " << n;
    }
  }
}

TEST(TChannelFrameMalformed, BadChecksum) {
  for (auto type : {ChecksumType::kCrc32, ChecksumType::kCrc32c}) {
    Bytes frame = smallCall(type);
    frame.back() ^= 0x01;  // last byte of arg3
    CallAssembler a;
    EXPECT_EQ(a.feed(viewOf(frame)), Status::kBadChecksum);
    EXPECT_EQ(a.feed(viewOf(frame)), Status::kMalformed);  // stays failed until reset
    a.reset();
    frame.back() ^= 0x01;
    EXPECT_EQ(a.feed(viewOf(frame)), Status::kComplete);
  }
  // The checksum field itself corrupted.
  Bytes frame = loadDump()[2].frame;
  frame[kFrameHeaderSize + 76] ^= 0x80;  // first csum byte (after csumtype at payload offset 75)
  CallAssembler a;
  EXPECT_EQ(a.feed(viewOf(frame)), Status::kBadChecksum);

  // A corrupted middle fragment.
  auto frag = loadFrag();
  frag[3].frame[1000] ^= 0xFF;
  a.reset();
  EXPECT_EQ(a.feed(viewOf(frag[2].frame)), Status::kIncomplete);
  EXPECT_EQ(a.feed(viewOf(frag[3].frame)), Status::kBadChecksum);
}

TEST(TChannelFrameMalformed, ChecksumTypeChangesBetweenFragments) {
  for (uint8_t newType : {0, 1, 2}) {
    auto frag = loadFrag();
    frag[3].frame[kFrameHeaderSize + 1] = newType;  // continue frame: flags:1 csumtype:1
    CallAssembler a;
    EXPECT_EQ(a.feed(viewOf(frag[2].frame)), Status::kIncomplete);
    EXPECT_EQ(a.feed(viewOf(frag[3].frame)), Status::kMalformed) << int(newType);
  }
}

TEST(TChannelFrameMalformed, ChunkOverrunsFrame) {
  Bytes frame = loadDump()[2].frame;
  frame[kFrameHeaderSize + 111] = 0x7c;  // arg3 says 124 bytes, 123 present
  CallAssembler a;
  EXPECT_EQ(a.feed(viewOf(frame)), Status::kMalformed);

  // A frame that ends one byte into a chunk length.
  Bytes half = loadDump()[2].frame;
  half.push_back(0x00);
  half[1] = static_cast<uint8_t>(half.size());
  a.reset();
  EXPECT_EQ(a.feed(viewOf(half)), Status::kMalformed);

  // A huge chunk length in a continue frame.
  auto frag = loadFrag();
  frag[3].frame[kFrameHeaderSize + 6] = 0xFF;
  frag[3].frame[kFrameHeaderSize + 7] = 0xFF;
  a.reset();
  EXPECT_EQ(a.feed(viewOf(frag[2].frame)), Status::kIncomplete);
  EXPECT_EQ(a.feed(viewOf(frag[3].frame)), Status::kMalformed);

  // A header length running past the frame.
  Bytes hdr = loadDump()[2].frame;
  hdr[kFrameHeaderSize + 48] = 0xF0;  // first transport header's key length
  a.reset();
  EXPECT_EQ(a.feed(viewOf(hdr)), Status::kMalformed);
}

TEST(TChannelFrameMalformed, DataAfterArg3OrAfterFinalFrame) {
  const auto frag = loadFrag();
  // A continue frame after the message completed.
  CallAssembler a;
  ASSERT_EQ(a.feed(viewOf(loadDump()[2].frame)), Status::kComplete);
  EXPECT_EQ(a.feed(viewOf(frag[3].frame)), Status::kMalformed);
  EXPECT_EQ(a.service(), "jaeger-collector");  // the completed message is still readable

  // A fourth (empty) chunk in the only frame: the checksum is still right, the structure is not.
  Bytes four = smallCall(ChecksumType::kCrc32c);
  four.push_back(0);
  four.push_back(0);
  four[0] = static_cast<uint8_t>(four.size() >> 8);
  four[1] = static_cast<uint8_t>(four.size());
  a.reset();
  EXPECT_EQ(a.feed(viewOf(four)), Status::kMalformed);

  // Too few args (arg3 missing) in a final frame.
  Bytes two = smallCall(ChecksumType::kNone);
  ASSERT_GT(two.size(), 125U);
  two.erase(two.end() - 125, two.end());  // arg3's chunk
  two[0] = static_cast<uint8_t>(two.size() >> 8);
  two[1] = static_cast<uint8_t>(two.size());
  a.reset();
  EXPECT_EQ(a.feed(viewOf(two)), Status::kMalformed);
}

TEST(TChannelFrameMalformed, WrongTypesIdsAndChecksumKinds) {
  const auto frag = loadFrag();
  CallAssembler a;
  EXPECT_EQ(a.feed(viewOf(frag[3].frame)), Status::kMalformed);  // a continue frame first
  a.reset();
  EXPECT_EQ(a.feed(viewOf(frag[0].frame)), Status::kMalformed);  // an init req

  a.reset();
  ASSERT_EQ(a.feed(viewOf(frag[2].frame)), Status::kIncomplete);
  Bytes resCont = frag[3].frame;
  resCont[2] = 0x14;  // call res continue in a request
  EXPECT_EQ(a.feed(viewOf(resCont)), Status::kMalformed);

  a.reset();
  ASSERT_EQ(a.feed(viewOf(frag[2].frame)), Status::kIncomplete);
  Bytes otherId = frag[3].frame;
  otherId[7] = 3;
  EXPECT_EQ(a.feed(viewOf(otherId)), Status::kMalformed);

  Bytes farm = loadDump()[2].frame;
  farm[kFrameHeaderSize + 75] = 2;
  a.reset();
  EXPECT_EQ(a.feed(viewOf(farm)), Status::kUnsupportedChecksum);
  farm[kFrameHeaderSize + 75] = 4;
  a.reset();
  EXPECT_EQ(a.feed(viewOf(farm)), Status::kMalformed);

  // More arg bytes than the assembler was told to accept.
  CallAssembler small(100);
  EXPECT_EQ(small.feed(viewOf(loadDump()[2].frame)), Status::kMalformed);
}

TEST(TChannelFrameMalformed, RandomBytesNeverCrash) {
  std::mt19937 rng(7);
  const Bytes base = smallCall(ChecksumType::kNone);
  for (int round = 0; round < 20000; ++round) {
    Bytes f = base;
    const int flips = 1 + static_cast<int>(rng() % 4);
    for (int k = 0; k < flips; ++k) f[kFrameHeaderSize + rng() % (f.size() - kFrameHeaderSize)] = static_cast<uint8_t>(rng());
    FrameView v = viewOf(f);
    v.payload = v.payload.first(rng() % (v.payload.size() + 1));
    CallAssembler a;
    const Status s = a.feed(v);
    if (s == Status::kComplete) {
      EXPECT_LE(a.arg1().size() + a.arg2().size() + a.arg3().size(), v.payload.size());
    }
  }
}

// ---- Fragmentation ---------------------------------------------------------------------------

struct Encoded {
  Bytes bytes;
  std::vector<FrameLayout> frames;
};

// A call like the captured one (same service and headers, so the first frame's fixed part is
// 96 bytes with CRC32C) with args of the given sizes; checks that it reassembles.
Encoded encodeCall(size_t l1, size_t l2, std::vector<size_t> arg3Pieces, ChecksumType type = ChecksumType::kCrc32c,
                   std::span<const Header> headers = kNodeClientHeaders) {
  size_t l3 = 0;
  for (size_t p : arg3Pieces) l3 += p;
  const Bytes a1 = pattern(l1, 11), a2 = pattern(l2, 12), a3 = pattern(l3, 13);
  const auto pieces = piecesOf(a3, arg3Pieces);
  CallReq req;
  req.id = 5;
  req.ttlMs = 983;
  req.service = "jaeger-collector";
  req.headers = headers;
  req.checksum = type;
  req.arg1 = a1;
  req.arg2 = a2;
  req.arg3 = pieces;
  Encoded e;
  EXPECT_TRUE(appendCallReq(e.bytes, req));
  const auto frames = splitFrames(e.bytes);
  CallAssembler a;
  for (size_t i = 0; i < frames.size(); ++i) {
    e.frames.push_back(layoutOf(frames[i]));
    EXPECT_LE(e.frames.back().size, kMaxFrameSize);
    EXPECT_EQ(frames[i].type, i == 0 ? 0x03 : 0x13);
    EXPECT_EQ(e.frames.back().flags, i + 1 < frames.size() ? kFlagMoreFragments : 0) << i;
    EXPECT_EQ(a.feed(frames[i]), i + 1 < frames.size() ? Status::kIncomplete : Status::kComplete) << i;
  }
  EXPECT_EQ(a.arg1(), a1);
  EXPECT_EQ(a.arg2(), a2);
  EXPECT_EQ(firstDiff(a.arg3(), a3), -1);
  EXPECT_EQ(a.checksum(), updateChecksum(type, concat({a1, a2, a3}), 0));
  return e;
}

std::vector<std::pair<size_t, std::vector<size_t>>> sizesAndChunks(const Encoded& e) {
  std::vector<std::pair<size_t, std::vector<size_t>>> out;
  for (const auto& f : e.frames) out.emplace_back(f.size, f.chunks);
  return out;
}
using Layout = std::vector<std::pair<size_t, std::vector<size_t>>>;

// Layouts marked "node" were produced by tchannel-node 4.0.1's own writer for the same sizes.
TEST(TChannelFrameFragmentation, NodeEdgeCases) {
  // The captured shape. (node)
  EXPECT_EQ(sizesAndChunks(encodeCall(24, 2, {195430})),
            (Layout{{65535, {24, 2, 65407}}, {65535, {65511}}, {64536, {64512}}}));
  // arg3 ends exactly at the end of the first frame: one frame, final. (node)
  EXPECT_EQ(sizesAndChunks(encodeCall(24, 2, {65407})), (Layout{{65535, {24, 2, 65407}}}));
  EXPECT_EQ(sizesAndChunks(encodeCall(24, 2, {65408})), (Layout{{65535, {24, 2, 65407}}, {25, {1}}}));
  // 3 bytes left after arg2: a 1-byte chunk of arg3. (node)
  EXPECT_EQ(sizesAndChunks(encodeCall(24, 65408, {10})), (Layout{{65535, {24, 65408, 1}}, {33, {9}}}));
  // 2 bytes left after arg2: an empty arg3 chunk ends the frame, arg3 goes whole in the next. (node)
  EXPECT_EQ(sizesAndChunks(encodeCall(24, 65409, {10})), (Layout{{65535, {24, 65409, 0}}, {34, {10}}}));
  // The same in a continue frame: arg2 split, ends 2 bytes short of the second frame's end. (node)
  EXPECT_EQ(sizesAndChunks(encodeCall(24, 130920, {7})),
            (Layout{{65535, {24, 65411}}, {65535, {65509, 0}}, {31, {7}}}));
  // 2 bytes left after arg2 and an empty arg3: it fits exactly, one frame. (node)
  EXPECT_EQ(sizesAndChunks(encodeCall(24, 65409, {})), (Layout{{65535, {24, 65409, 0}}}));
}

// Where Node drops args (an arg before arg3 ends 0 or 1 bytes short of the frame end), we end
// the frame and open the next one with an empty chunk that closes the open arg.
TEST(TChannelFrameFragmentation, ArgEndsWithLessThanTwoBytesLeft) {
  EXPECT_EQ(sizesAndChunks(encodeCall(24, 65410, {10})), (Layout{{65534, {24, 65410}}, {36, {0, 10}}}));
  EXPECT_EQ(sizesAndChunks(encodeCall(24, 65411, {10})), (Layout{{65535, {24, 65411}}, {36, {0, 10}}}));
  EXPECT_EQ(sizesAndChunks(encodeCall(24, 65411, {})), (Layout{{65535, {24, 65411}}, {26, {0, 0}}}));
  EXPECT_EQ(sizesAndChunks(encodeCall(24, 130921, {7})),
            (Layout{{65535, {24, 65411}}, {65534, {65510}}, {33, {0, 7}}}));
  // Without a checksum field the first frame's fixed part is 4 bytes shorter.
  EXPECT_EQ(sizesAndChunks(encodeCall(24, 65415, {3}, ChecksumType::kNone)),
            (Layout{{65535, {24, 65415}}, {25, {0, 3}}}));
}

// 128 transport headers whose last key is `lastKey` bytes long: the first frame's fixed part is
// then 65491 + (lastKey - 157) bytes.
std::vector<Header> bigHeaders(size_t lastKey, std::vector<std::string>& storage) {
  storage.clear();
  for (int i = 0; i < 128; ++i) storage.emplace_back(i < 127 ? 255 : lastKey, static_cast<char>('a' + i % 26));
  storage.emplace_back(255, 'v');
  std::vector<Header> h;
  for (int i = 0; i < 128; ++i) h.emplace_back(storage[static_cast<size_t>(i)], storage.back());
  return h;
}

TEST(TChannelFrameFragmentation, HeadersFillTheFirstFrame) {
  std::vector<std::string> storage;
  // 2 bytes left after arg1: arg2 starts with an empty chunk at the end of the first frame.
  const auto h = bigHeaders(157, storage);
  EXPECT_EQ(sizesAndChunks(encodeCall(24, 5, {10}, ChecksumType::kCrc32c, h)),
            (Layout{{65535, {24, 0}}, {41, {5, 10}}}));
  // An empty arg2 there is complete; arg3 then needs the empty closing chunk (Node drops arg3).
  EXPECT_EQ(sizesAndChunks(encodeCall(24, 0, {10}, ChecksumType::kCrc32c, h)),
            (Layout{{65535, {24, 0}}, {36, {0, 10}}}));

  // Less room than that: arg1 could not be followed by arg2 in the first frame, which
  // tchannel-node refuses (Arg1Fragmented), so we refuse to encode it.
  const Bytes arg1(24, 'm');
  for (size_t lastKey : {158U, 159U, 185U}) {
    const auto tooBig = bigHeaders(lastKey, storage);
    CallReq req;
    req.service = "jaeger-collector";
    req.headers = tooBig;
    req.arg1 = arg1;
    EXPECT_FALSE(isEncodable(req)) << lastKey;
  }
}

TEST(TChannelFrameFragmentation, LargeArg3InOddPieces) {
  const Bytes a3 = pattern(200 * 1024 + 17, 99);
  const auto pieces = piecesOf(a3, {1, 7, 4093, 0, 65521, 13, 30011, 2, 65535, 65536, 3});
  const Header h[] = {{"cn", "jaeger-agent"}, {"as", "thrift"}};
  for (auto type : {ChecksumType::kCrc32, ChecksumType::kCrc32c, ChecksumType::kNone}) {
    CallReq req;
    req.id = 0xFFFFFFFE;
    req.ttlMs = 1000;
    req.service = "jaeger-collector";
    req.headers = h;
    req.checksum = type;
    req.arg1 = asBytes(kSubmitBatches);
    req.arg2 = kEmptyThriftHeaders;
    req.arg3 = pieces;
    Bytes out;
    ASSERT_TRUE(appendCallReq(out, req));
    const auto frames = splitFrames(out);
    ASSERT_EQ(frames.size(), 4U);
    CallAssembler a;
    uint32_t running = 0;
    size_t carried = 0;
    const Bytes all = concat({asBytes(kSubmitBatches), kEmptyThriftHeaders, a3});
    for (size_t i = 0; i < frames.size(); ++i) {
      const FrameLayout l = layoutOf(frames[i]);
      if (i + 1 < frames.size()) {
        EXPECT_EQ(l.size, kMaxFrameSize) << i;
      }
      EXPECT_EQ(frames[i].id, 0xFFFFFFFEU);
      EXPECT_EQ(l.checksumType, static_cast<uint8_t>(type));
      // Each frame's checksum, computed here in one go over everything carried so far.
      for (size_t c : l.chunks) carried += c;
      running = updateChecksum(type, std::span<const uint8_t>(all).first(carried), 0);
      EXPECT_EQ(l.checksum, type == ChecksumType::kNone ? 0 : running) << i;
      EXPECT_EQ(a.feed(frames[i]), i + 1 < frames.size() ? Status::kIncomplete : Status::kComplete);
    }
    EXPECT_EQ(carried, all.size());
    EXPECT_EQ(a.checksumType(), type);
    EXPECT_EQ(firstDiff(a.arg3(), a3), -1);
    EXPECT_EQ(a.header("cn"), "jaeger-agent");

    // The response direction fragments the same way.
    CallRes res;
    res.id = 3;
    res.code = 1;
    res.headers = h;
    res.checksum = type;
    res.arg2 = kEmptyThriftHeaders;
    res.arg3 = pieces;
    out.clear();
    ASSERT_TRUE(appendCallRes(out, res));
    const auto resFrames = splitFrames(out);
    ASSERT_EQ(resFrames.size(), 4U);
    a.reset();
    for (size_t i = 0; i < resFrames.size(); ++i) {
      EXPECT_EQ(resFrames[i].type, i == 0 ? 0x04 : 0x14);
      EXPECT_EQ(a.feed(resFrames[i]), i + 1 < resFrames.size() ? Status::kIncomplete : Status::kComplete);
    }
    EXPECT_FALSE(a.isRequest());
    EXPECT_EQ(a.code(), 1);
    EXPECT_TRUE(a.arg1().empty());
    EXPECT_EQ(firstDiff(a.arg3(), a3), -1);
  }
}

// Gather output (the reporter's sendmsg path) flattens to exactly what appendCallReq writes, for
// arg3 sizes around every frame boundary and for pieces below and above kGatherMinPiece; large
// pieces are referred to, not copied.
TEST(TChannelFrameFragmentation, GatherFlattensToTheCopiedEncoding) {
  const Header h[] = {{"as", "thrift"}, {"cn", "jaeger-agent"}};
  const Bytes body = pattern(3 * 65536 + 100, 5);
  const uint8_t head[8] = {0x0F, 0x00, 0x01, 0x0C, 0, 0, 0, 3};
  const uint8_t stop[1] = {0};
  std::vector<size_t> sizes = {0, 1, 511, 512, 1000, 65400, 65450, 65480, 65500, 65535, 65536, 131000, 131072,
                               3 * 65536 + 100};
  for (size_t n = 65300; n < 65560; n += 7) sizes.push_back(n);
  for (auto type : {ChecksumType::kCrc32c, ChecksumType::kCrc32, ChecksumType::kNone}) {
    for (size_t n : sizes) {
      const std::span<const uint8_t> pieces[] = {head, std::span<const uint8_t>(body).first(n), stop};
      CallReq req;
      req.id = 7;
      req.ttlMs = 999;
      req.service = "jaeger-collector";
      req.headers = h;
      req.checksum = type;
      req.arg1 = asBytes(kSubmitBatches);
      req.arg2 = kEmptyThriftHeaders;
      req.arg3 = pieces;
      Bytes copied;
      ASSERT_TRUE(appendCallReq(copied, req));
      Bytes meta = {0xAA, 0xBB};  // bytes already in the buffer are not part of the message
      std::vector<Segment> segs;
      ASSERT_TRUE(appendCallReqGather(meta, segs, req));
      Bytes flat;
      size_t externalBytes = 0;
      for (const Segment& g : segs) {
        ASSERT_GT(g.size, 0U);
        if (g.external) {
          EXPECT_GE(g.external, body.data());
          EXPECT_LE(g.external + g.size, body.data() + body.size());
          flat.insert(flat.end(), g.external, g.external + g.size);
          externalBytes += g.size;
        } else {
          ASSERT_LE(g.offset + g.size, meta.size());
          flat.insert(flat.end(), meta.begin() + static_cast<std::ptrdiff_t>(g.offset),
                      meta.begin() + static_cast<std::ptrdiff_t>(g.offset + g.size));
        }
      }
      EXPECT_EQ(firstDiff(flat, copied), -1) << "arg3 of " << n << " bytes, checksum " << static_cast<int>(type);
      EXPECT_EQ(externalBytes, n >= kGatherMinPiece ? n : 0U) << n;
      EXPECT_EQ(meta.size() - 2, copied.size() - externalBytes) << n;
    }
  }
}

TEST(TChannelFrameFragmentation, NotEncodable) {
  CallReq req;
  req.service = "jaeger-collector";
  req.arg2 = kEmptyThriftHeaders;
  EXPECT_TRUE(isEncodable(req));
  Bytes out;

  req.ttlMs = 0;  // tchannel-node treats ttl 0 as a fatal protocol error
  EXPECT_FALSE(isEncodable(req));
  EXPECT_FALSE(appendCallReq(out, req));
  req.ttlMs = 1;

  req.checksum = ChecksumType::kFarmhash32;
  EXPECT_FALSE(appendCallReq(out, req));
  req.checksum = ChecksumType::kCrc32;

  const std::string longName(256, 's');
  req.service = longName;
  EXPECT_FALSE(appendCallReq(out, req));
  req.service = "jaeger-collector";

  const Header longValue[] = {{"k", longName}};
  req.headers = longValue;
  EXPECT_FALSE(appendCallReq(out, req));
  req.headers = {};

  // arg1 over 16 KiB (tchannel-node refuses it).
  const Bytes bigArg1(kMaxArg1Size + 1, 'x');
  req.arg1 = bigArg1;
  EXPECT_FALSE(appendCallReq(out, req));
  req.arg1 = std::span<const uint8_t>(bigArg1).first(kMaxArg1Size);
  EXPECT_TRUE(isEncodable(req));
  req.arg1 = {};

  // Fixed part larger than a frame.
  const std::string v255(255, 'v');
  const std::vector<Header> many(255, Header{v255, v255});
  req.headers = many;
  EXPECT_FALSE(appendCallReq(out, req));
  CallRes res;
  res.headers = many;
  EXPECT_FALSE(isEncodable(res));
  EXPECT_FALSE(appendCallRes(out, res));
  EXPECT_TRUE(out.empty());
}

}  // namespace
}  // namespace jagent::report::tchannel
