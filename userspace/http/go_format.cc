#include "http/go_format.h"

#include <charconv>
#include <cmath>
#include <ctime>

#include <fmt/format.h>

namespace jagent::http {
namespace {

constexpr char kHex[] = "0123456789abcdef";

// Length of the valid UTF-8 sequence at s[i], or 0 if it is not one. Same acceptance as Go's
// utf8.DecodeRuneInString: no overlong forms, no surrogates, nothing above U+10FFFF.
size_t validUtf8Length(std::string_view s, size_t i, uint32_t& rune) {
  const auto b = [&](size_t k) { return static_cast<uint8_t>(s[i + k]); };
  const uint8_t b0 = b(0);
  size_t n;
  uint8_t lo = 0x80, hi = 0xBF;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    n = 2;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    n = 3;
    if (b0 == 0xE0) lo = 0xA0;
    if (b0 == 0xED) hi = 0x9F;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    n = 4;
    if (b0 == 0xF0) lo = 0x90;
    if (b0 == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  if (s.size() - i < n) return 0;
  if (b(1) < lo || b(1) > hi) return 0;
  for (size_t k = 2; k < n; ++k)
    if (b(k) < 0x80 || b(k) > 0xBF) return 0;
  uint32_t r = b0 & (0x7F >> n);
  for (size_t k = 1; k < n; ++k) r = (r << 6) | (b(k) & 0x3F);
  rune = r;
  return n;
}

}  // namespace

void appendGoJsonString(std::string& out, std::string_view s) {
  out += '"';
  size_t start = 0;  // start of the pending run of bytes copied verbatim
  auto flush = [&](size_t upTo) { out.append(s.data() + start, upTo - start); };
  for (size_t i = 0; i < s.size();) {
    const auto c = static_cast<uint8_t>(s[i]);
    if (c < 0x80) {
      if (c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&') {
        ++i;
        continue;
      }
      flush(i);
      switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        default:  // other control bytes, and <, >, & (HTML-safe escaping)
          out += "\\u00";
          out += kHex[c >> 4];
          out += kHex[c & 0xF];
      }
      start = ++i;
      continue;
    }
    uint32_t rune = 0;
    const size_t n = validUtf8Length(s, i, rune);
    if (n == 0) {
      flush(i);
      out += "\\ufffd";  // one replacement per invalid byte, as Go does
      start = ++i;
      continue;
    }
    if (rune == 0x2028 || rune == 0x2029) {
      flush(i);
      out += rune == 0x2028 ? "\\u2028" : "\\u2029";
      start = i + n;
    }
    i += n;
  }
  flush(s.size());
  out += '"';
}

bool appendGoJsonFloat64(std::string& out, double v) {
  if (std::isnan(v) || std::isinf(v)) return false;
  if (std::signbit(v)) out += '-';
  const double a = std::fabs(v);
  if (a == 0) {
    out += '0';
    return true;
  }
  // Shortest round-trip digits and the decimal exponent: d.ddd × 10^exp.
  char buf[64];
  const auto res = std::to_chars(buf, buf + sizeof buf, a, std::chars_format::scientific);
  const std::string_view sci(buf, static_cast<size_t>(res.ptr - buf));
  const size_t e = sci.find('e');
  std::string digits;
  for (char c : sci.substr(0, e))
    if (c != '.') digits += c;
  int exp = 0;
  std::from_chars(sci.data() + e + 1 + (sci[e + 1] == '+' ? 1 : 0), sci.data() + sci.size(), exp);

  if (a < 1e-6 || a >= 1e21) {
    // strconv 'e' with precision -1, then encoding/json turns "e-07" into "e-7".
    out += digits[0];
    if (digits.size() > 1) {
      out += '.';
      out.append(digits, 1);
    }
    out += 'e';
    out += exp < 0 ? '-' : '+';
    const int ae = exp < 0 ? -exp : exp;
    if (ae < 10 && exp >= 0) out += '0';  // "e+05"; negative exponents lose the 0
    out += std::to_string(ae);
    return true;
  }
  // strconv 'f' with precision -1.
  const int nd = static_cast<int>(digits.size());
  if (exp < 0) {
    out += "0.";
    out.append(static_cast<size_t>(-exp - 1), '0');
    out += digits;
  } else if (exp + 1 >= nd) {
    out += digits;
    out.append(static_cast<size_t>(exp + 1 - nd), '0');
  } else {
    out.append(digits, 0, static_cast<size_t>(exp + 1));
    out += '.';
    out.append(digits, static_cast<size_t>(exp + 1));
  }
  return true;
}

std::string goDurationString(std::chrono::nanoseconds d) {
  const int64_t ns = d.count();
  const bool neg = ns < 0;
  uint64_t u = neg ? 0 - static_cast<uint64_t>(ns) : static_cast<uint64_t>(ns);
  // ".5" for u % 10^prec, trailing zeros dropped; "" when the fraction is zero.
  auto frac = [](uint64_t v, int prec) {
    uint64_t p10 = 1;
    for (int i = 0; i < prec; ++i) p10 *= 10;
    uint64_t f = v % p10;
    if (f == 0) return std::string();
    std::string digits = fmt::format("{:0{}}", f, prec);
    while (!digits.empty() && digits.back() == '0') digits.pop_back();
    return "." + digits;
  };
  std::string s;
  if (u == 0) return "0s";
  if (u < 1'000'000'000) {
    if (u < 1'000) s = fmt::format("{}ns", u);
    else if (u < 1'000'000) s = fmt::format("{}{}µs", u / 1'000, frac(u, 3));
    else s = fmt::format("{}{}ms", u / 1'000'000, frac(u, 6));
  } else {
    const std::string f = frac(u, 9);
    uint64_t secs = u / 1'000'000'000;
    const uint64_t mins = secs / 60, hours = mins / 60;
    if (hours > 0) s = fmt::format("{}h{}m{}{}s", hours, mins % 60, secs % 60, f);
    else if (mins > 0) s = fmt::format("{}m{}{}s", mins, secs % 60, f);
    else s = fmt::format("{}{}s", secs, f);
  }
  return neg ? "-" + s : s;
}

std::string goRfc3339Nano(std::chrono::system_clock::time_point t) {
  const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
  int64_t secs = ns / 1'000'000'000;
  int64_t frac = ns % 1'000'000'000;
  if (frac < 0) {
    frac += 1'000'000'000;
    --secs;
  }
  const std::time_t tt = static_cast<std::time_t>(secs);
  std::tm tm{};
  ::gmtime_r(&tt, &tm);
  std::string out = fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                                tm.tm_hour, tm.tm_min, tm.tm_sec);
  if (frac != 0) {
    std::string digits = fmt::format("{:09}", frac);
    while (digits.back() == '0') digits.pop_back();
    out += "." + digits;
  }
  return out + "Z";
}

}  // namespace jagent::http
