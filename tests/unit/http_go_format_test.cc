// Go-compatible rendering (http/go_format.h): the expected strings are what Go's
// encoding/json, strconv and time packages produce for the same inputs.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "http/go_format.h"

namespace jagent::http {
namespace {

std::string f64(double v) {
  std::string s;
  EXPECT_TRUE(appendGoJsonFloat64(s, v)) << v;
  return s;
}
std::string str(std::string_view v) {
  std::string s;
  appendGoJsonString(s, v);
  return s;
}

TEST(HttpGoFormat, Float64LikeJsonMarshal) {
  EXPECT_EQ(f64(1), "1");
  EXPECT_EQ(f64(0), "0");
  EXPECT_EQ(f64(-0.0), "-0");
  EXPECT_EQ(f64(0.001), "0.001");
  EXPECT_EQ(f64(0.5), "0.5");
  EXPECT_EQ(f64(-2.5), "-2.5");
  EXPECT_EQ(f64(0.1 + 0.2), "0.30000000000000004");
  EXPECT_EQ(f64(1.0 / 3), "0.3333333333333333");
  EXPECT_EQ(f64(100), "100");
  EXPECT_EQ(f64(123456789), "123456789");
  EXPECT_EQ(f64(1.5e20), "150000000000000000000");
  EXPECT_EQ(f64(1e20), "100000000000000000000");
  EXPECT_EQ(f64(1e21), "1e+21");
  EXPECT_EQ(f64(1.5e300), "1.5e+300");
  EXPECT_EQ(f64(0.000001), "0.000001");
  EXPECT_EQ(f64(1e-6), "0.000001");
  EXPECT_EQ(f64(1e-7), "1e-7");
  EXPECT_EQ(f64(1.25e-7), "1.25e-7");
  EXPECT_EQ(f64(-1e-7), "-1e-7");
  EXPECT_EQ(f64(5e-324), "5e-324");
  EXPECT_EQ(f64(1e-10), "1e-10");
  EXPECT_EQ(f64(std::numeric_limits<double>::max()), "1.7976931348623157e+308");
  EXPECT_EQ(f64(12.75), "12.75");
  EXPECT_EQ(f64(1234.5678), "1234.5678");
}

TEST(HttpGoFormat, Float64RefusesWhatJsonMarshalRefuses) {
  std::string s = "x";
  EXPECT_FALSE(appendGoJsonFloat64(s, std::nan("")));
  EXPECT_FALSE(appendGoJsonFloat64(s, INFINITY));
  EXPECT_FALSE(appendGoJsonFloat64(s, -INFINITY));
  EXPECT_EQ(s, "x");
}

TEST(HttpGoFormat, StringsLikeJsonMarshal) {
  EXPECT_EQ(str(""), R"("")");
  EXPECT_EQ(str("plain ASCII ~!@#$%^*[]"), R"("plain ASCII ~!@#$%^*[]")");
  EXPECT_EQ(str("a\"b\\c"), R"("a\"b\\c")");
  EXPECT_EQ(str("<script>&</script>"), R"("\u003cscript\u003e\u0026\u003c/script\u003e")");
  EXPECT_EQ(str("tab\tnl\ncr\r"), R"("tab\tnl\ncr\r")");
  EXPECT_EQ(str(std::string("\b\f\x01\x1f", 4)), R"("\u0008\u000c\u0001\u001f")");  // Go 1.13/1.14
  EXPECT_EQ(str(std::string("nul\0!", 5)), R"("nul\u0000!")");
  EXPECT_EQ(str("\x7f"), "\"\x7f\"");                                   // DEL is passed through
  EXPECT_EQ(str("\xc2\xb5s \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80"), "\"\xc2\xb5s \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80\"");
  EXPECT_EQ(str("\xe2\x80\xa8|\xe2\x80\xa9"), R"("\u2028|\u2029")");
  EXPECT_EQ(str("\xef\xbf\xbd"), "\"\xef\xbf\xbd\"");  // a real U+FFFD stays as it is
  // Invalid UTF-8: one \ufffd per bad byte, as utf8.DecodeRuneInString steps one byte.
  EXPECT_EQ(str("a\xffz"), R"("a\ufffdz")");
  EXPECT_EQ(str("\xe2\x82"), R"("\ufffd\ufffd")");          // truncated 3-byte sequence
  EXPECT_EQ(str("\xc0\xaf"), R"("\ufffd\ufffd")");          // overlong '/'
  EXPECT_EQ(str("\xed\xa0\x80"), R"("\ufffd\ufffd\ufffd")");  // UTF-16 surrogate
  EXPECT_EQ(str("\xf4\x90\x80\x80"), R"("\ufffd\ufffd\ufffd\ufffd")");  // above U+10FFFF
}

TEST(HttpGoFormat, DurationLikeGoString) {
  using namespace std::chrono;
  EXPECT_EQ(goDurationString(nanoseconds(0)), "0s");
  EXPECT_EQ(goDurationString(nanoseconds(1)), "1ns");
  EXPECT_EQ(goDurationString(nanoseconds(999)), "999ns");
  EXPECT_EQ(goDurationString(nanoseconds(1500)), "1.5\xc2\xb5s");
  EXPECT_EQ(goDurationString(microseconds(1)), "1\xc2\xb5s");
  EXPECT_EQ(goDurationString(milliseconds(1)), "1ms");
  EXPECT_EQ(goDurationString(nanoseconds(2'345'678)), "2.345678ms");
  EXPECT_EQ(goDurationString(milliseconds(999)), "999ms");
  EXPECT_EQ(goDurationString(seconds(1)), "1s");
  EXPECT_EQ(goDurationString(nanoseconds(1'000'000'001)), "1.000000001s");
  EXPECT_EQ(goDurationString(milliseconds(62'500)), "1m2.5s");
  EXPECT_EQ(goDurationString(hours(1)), "1h0m0s");
  EXPECT_EQ(goDurationString(hours(26) + minutes(3) + milliseconds(4'010)), "26h3m4.01s");
  EXPECT_EQ(goDurationString(-milliseconds(1500)), "-1.5s");
}

TEST(HttpGoFormat, TimeLikeRfc3339Nano) {
  using namespace std::chrono;
  const system_clock::time_point epoch{};
  EXPECT_EQ(goRfc3339Nano(epoch), "1970-01-01T00:00:00Z");
  EXPECT_EQ(goRfc3339Nano(epoch + seconds(1583064000) + milliseconds(500)), "2020-03-01T12:00:00.5Z");
  EXPECT_EQ(goRfc3339Nano(epoch + seconds(1583064000) + nanoseconds(123456789)), "2020-03-01T12:00:00.123456789Z");
  EXPECT_EQ(goRfc3339Nano(epoch + seconds(951782400)), "2000-02-29T00:00:00Z");
}

}  // namespace
}  // namespace jagent::http
