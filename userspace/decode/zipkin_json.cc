// The JSON half of the Zipkin log rule (modern-collectors.md §2.4: an annotation whose value is a
// JSON object of strings becomes a log with those fields) and the arena the decoded strings live
// in. The grammar and decoding are Go encoding/json's for a map[string]string target: the whole
// input must be valid JSON; only an object (string or null values) or `null` succeeds; invalid
// UTF-8 and unpaired surrogate escapes decode to U+FFFD; control bytes inside strings are
// syntax errors. No recursion (a nested value is already a failure), so hostile input costs one
// linear pass.
#include <cstring>

#include "decode/zipkin_domain.h"

namespace jagent::decode::zipkin {

void Arena::prepare(size_t bytes) {
  if (buf_.size() < bytes) buf_.resize(bytes);
  used_ = 0;
  overrun_ = false;
}

char* Arena::take(size_t n) noexcept {
  if (buf_.size() - used_ < n) {
    overrun_ = true;
    return nullptr;
  }
  char* p = buf_.data() + used_;
  used_ += n;
  return p;
}

namespace {

[[nodiscard]] bool isSpace(char c) noexcept { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// Go utf8.DecodeRune: length of a valid sequence at s[0..n), or 0 if invalid (RuneError, 1).
[[nodiscard]] size_t validUtf8(const uint8_t* s, size_t n) noexcept {
  const uint8_t c = s[0];
  if (c < 0x80) return 1;
  size_t len;
  uint8_t lo = 0x80, hi = 0xBF;
  if (c >= 0xC2 && c <= 0xDF) {
    len = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    len = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;  // no UTF-16 surrogates
  } else if (c >= 0xF0 && c <= 0xF4) {
    len = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  if (n < len) return 0;
  if (s[1] < lo || s[1] > hi) return 0;
  for (size_t i = 2; i < len; ++i)
    if (s[i] < 0x80 || s[i] > 0xBF) return 0;
  return len;
}

[[nodiscard]] int hex4(const char* p) noexcept {
  int v = 0;
  for (int i = 0; i < 4; ++i) {
    const char c = p[i];
    int d;
    if (c >= '0' && c <= '9') d = c - '0';
    else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
    else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
    else return -1;
    v = v * 16 + d;
  }
  return v;
}

size_t putUtf8(char* p, uint32_t r) noexcept {
  if (r < 0x80) {
    p[0] = static_cast<char>(r);
    return 1;
  }
  if (r < 0x800) {
    p[0] = static_cast<char>(0xC0 | (r >> 6));
    p[1] = static_cast<char>(0x80 | (r & 0x3F));
    return 2;
  }
  if (r < 0x10000) {
    p[0] = static_cast<char>(0xE0 | (r >> 12));
    p[1] = static_cast<char>(0x80 | ((r >> 6) & 0x3F));
    p[2] = static_cast<char>(0x80 | (r & 0x3F));
    return 3;
  }
  p[0] = static_cast<char>(0xF0 | (r >> 18));
  p[1] = static_cast<char>(0x80 | ((r >> 12) & 0x3F));
  p[2] = static_cast<char>(0x80 | ((r >> 6) & 0x3F));
  p[3] = static_cast<char>(0x80 | (r & 0x3F));
  return 4;
}

class JsonParser {
 public:
  JsonParser(std::string_view in, Arena& arena) noexcept : s_(in), arena_(arena) {}

  bool run(std::vector<std::string_view>& out) noexcept {
    ws();
    if (s_.substr(i_, 4) == "null") {
      i_ += 4;
      ws();
      return i_ == s_.size();
    }
    if (!eat('{')) return false;
    ws();
    if (eat('}')) return end();
    for (;;) {
      std::string_view key, value;
      if (!string(key)) return false;
      ws();
      if (!eat(':')) return false;
      ws();
      if (s_.substr(i_, 4) == "null") {
        i_ += 4;  // Go: null into a fresh map element leaves "" (the key is still set)
      } else if (!string(value)) {
        return false;  // a number, bool, object or array: a syntax or a type error either way
      }
      out.push_back(key);
      out.push_back(value);
      ws();
      if (eat(',')) {
        ws();
        continue;
      }
      if (eat('}')) return end();
      return false;
    }
  }

 private:
  void ws() noexcept {
    while (i_ < s_.size() && isSpace(s_[i_])) ++i_;
  }
  bool eat(char c) noexcept {
    if (i_ < s_.size() && s_[i_] == c) {
      ++i_;
      return true;
    }
    return false;
  }
  bool end() noexcept {
    ws();
    return i_ == s_.size();
  }

  // A JSON string at i_; `out` is a view into the input when no decoding was needed.
  bool string(std::string_view& out) noexcept {
    if (!eat('"')) return false;
    const size_t start = i_;
    bool plain = true;
    size_t j = i_;
    for (;;) {  // scan: find the closing quote, validate escapes and control bytes
      if (j >= s_.size()) return false;
      const auto c = static_cast<uint8_t>(s_[j]);
      if (c == '"') break;
      if (c < 0x20) return false;
      if (c == '\\') {
        plain = false;
        if (j + 1 >= s_.size()) return false;
        const char e = s_[j + 1];
        if (e == 'u') {
          if (j + 6 > s_.size() || hex4(s_.data() + j + 2) < 0) return false;
          j += 6;
        } else if (e == '"' || e == '\\' || e == '/' || e == 'b' || e == 'f' || e == 'n' || e == 'r' || e == 't') {
          j += 2;
        } else {
          return false;
        }
        continue;
      }
      if (c >= 0x80) {
        const size_t n = validUtf8(reinterpret_cast<const uint8_t*>(s_.data()) + j, s_.size() - j);
        if (n == 0) {
          plain = false;
          ++j;
        } else {
          j += n;
        }
        continue;
      }
      ++j;
    }
    i_ = j + 1;
    const std::string_view raw = s_.substr(start, j - start);
    if (plain) {
      out = raw;
      return true;
    }
    // Decode: each input byte gives at most 3 output bytes (an invalid byte → U+FFFD; a 6-byte
    // \u escape → ≤ 3 bytes; a 12-byte surrogate pair → 4).
    char* dst = arena_.take(raw.size() * 3);
    if (dst == nullptr) return false;
    size_t w = 0;
    for (size_t k = 0; k < raw.size();) {
      const auto c = static_cast<uint8_t>(raw[k]);
      if (c == '\\') {
        const char e = raw[k + 1];
        if (e != 'u') {
          const char m = e == 'b' ? '\b' : e == 'f' ? '\f' : e == 'n' ? '\n' : e == 'r' ? '\r' : e == 't' ? '\t' : e;
          dst[w++] = m;
          k += 2;
          continue;
        }
        auto r = static_cast<uint32_t>(hex4(raw.data() + k + 2));
        k += 6;
        if (r >= 0xD800 && r < 0xE000) {
          // Go: a high surrogate followed by a low one's escape makes a pair; anything else → U+FFFD.
          int r2 = -1;
          if (r < 0xDC00 && k + 6 <= raw.size() && raw[k] == '\\' && raw[k + 1] == 'u') r2 = hex4(raw.data() + k + 2);
          if (r2 >= 0xDC00 && r2 < 0xE000) {
            r = 0x10000 + ((r - 0xD800) << 10) + (static_cast<uint32_t>(r2) - 0xDC00);
            k += 6;
          } else {
            r = 0xFFFD;
          }
        }
        w += putUtf8(dst + w, r);
        continue;
      }
      if (c >= 0x80) {
        const size_t n = validUtf8(reinterpret_cast<const uint8_t*>(raw.data()) + k, raw.size() - k);
        if (n == 0) {
          w += putUtf8(dst + w, 0xFFFD);
          ++k;
        } else {
          std::memcpy(dst + w, raw.data() + k, n);
          w += n;
          k += n;
        }
        continue;
      }
      dst[w++] = static_cast<char>(c);
      ++k;
    }
    out = {dst, w};
    return true;
  }

  std::string_view s_;
  size_t i_ = 0;
  Arena& arena_;
};

}  // namespace

bool parseJsonStringMap(std::string_view in, Arena& arena, std::vector<std::string_view>& out) noexcept {
  const size_t mark = out.size();
  JsonParser p(in, arena);
  if (p.run(out)) return true;
  out.resize(mark);
  return false;
}

}  // namespace jagent::decode::zipkin
