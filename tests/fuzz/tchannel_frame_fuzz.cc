// libFuzzer target for the TChannel frame parsers (issue #11): the bytes a collector (or
// anything answering on its address) sends the reporter. The input is a byte stream cut into
// frames by parseFrame; init, error and call frames go to their parsers, call frames through a
// CallAssembler (bounded to 1 MiB of args), as tchannel_connection.cc does. Never a crash or an
// out-of-bounds read (ASan/UBSan), and two properties:
//   * parseFrame never claims more than the stream holds, and the payload is the frame's body;
//   * a reassembled call response, re-encoded with appendCallRes and reassembled again, gives the
//     same args (what we accept, we can also produce: the parser and the encoder agree).
#include <cstdint>
#include <span>
#include <vector>

#include "report/tchannel_frame.h"

namespace tc = jagent::report::tchannel;

namespace {

constexpr size_t kMaxArgBytes = size_t{1} << 20;

#define FUZZ_CHECK(cond) \
  do {                   \
    if (!(cond)) __builtin_trap(); \
  } while (0)

// Re-encodes a complete call response and reassembles it again.
void roundTrip(const tc::CallAssembler& a) {
  if (a.isRequest()) return;
  if (a.checksumType() != tc::ChecksumType::kNone && a.checksumType() != tc::ChecksumType::kCrc32c) return;
  std::vector<tc::Header> headers;
  for (const auto& [k, v] : a.headers()) headers.emplace_back(k, v);
  const std::span<const uint8_t> arg3[] = {a.arg3()};
  tc::CallRes res;
  res.id = a.id();
  res.code = a.code();
  res.tracing = a.tracing();
  res.headers = headers;
  res.checksum = a.checksumType();
  res.arg1 = a.arg1();
  res.arg2 = a.arg2();
  res.arg3 = arg3;
  if (!tc::isEncodable(res)) return;
  std::vector<uint8_t> out;
  FUZZ_CHECK(tc::appendCallRes(out, res));
  tc::CallAssembler again(kMaxArgBytes);
  std::span<const uint8_t> s(out);
  tc::CallAssembler::Status st = tc::CallAssembler::Status::kIncomplete;
  while (!s.empty()) {
    tc::FrameView f;
    size_t used = 0;
    FUZZ_CHECK(tc::parseFrame(s, f, used) == tc::ParseStatus::kOk);
    st = again.feed(f);
    s = s.subspan(used);
    FUZZ_CHECK(st == tc::CallAssembler::Status::kIncomplete || s.empty());
  }
  FUZZ_CHECK(st == tc::CallAssembler::Status::kComplete);
  FUZZ_CHECK(again.arg1() == a.arg1() && again.arg2() == a.arg2() && again.arg3() == a.arg3());
  FUZZ_CHECK(again.code() == a.code() && again.headers() == a.headers());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::span<const uint8_t> stream(data, size);
  tc::CallAssembler assembler(kMaxArgBytes);
  for (int frames = 0; frames < 4096; ++frames) {
    tc::FrameView f;
    size_t used = 0;
    const tc::ParseStatus ps = tc::parseFrame(stream, f, used);
    if (ps != tc::ParseStatus::kOk) break;
    FUZZ_CHECK(used >= 16 && used <= stream.size());
    FUZZ_CHECK(f.payload.size() == used - 16 && f.payload.data() == stream.data() + 16);
    stream = stream.subspan(used);
    switch (f.type) {
      case static_cast<uint8_t>(tc::FrameType::kInitReq):
      case static_cast<uint8_t>(tc::FrameType::kInitRes): {
        tc::InitView init;
        if (tc::parseInit(f.payload, init)) (void)init.get("host_port");
        break;
      }
      case static_cast<uint8_t>(tc::FrameType::kError): {
        tc::ErrorView e;
        if (tc::parseError(f.payload, e)) (void)tc::errorCodeName(e.code);
        break;
      }
      case static_cast<uint8_t>(tc::FrameType::kCallReq):
      case static_cast<uint8_t>(tc::FrameType::kCallRes):
      case static_cast<uint8_t>(tc::FrameType::kCallReqContinue):
      case static_cast<uint8_t>(tc::FrameType::kCallResContinue): {
        const auto st = assembler.feed(f);
        if (st == tc::CallAssembler::Status::kIncomplete) break;
        if (st == tc::CallAssembler::Status::kComplete) {
          FUZZ_CHECK(assembler.arg1().size() + assembler.arg2().size() + assembler.arg3().size() <= kMaxArgBytes);
          std::vector<tc::Header> th;
          (void)tc::parseThriftHeaders(assembler.arg2(), th);
          roundTrip(assembler);
        }
        assembler.reset();
        break;
      }
      default:
        (void)tc::frameTypeName(f.type);
        break;
    }
  }
  return 0;
}
