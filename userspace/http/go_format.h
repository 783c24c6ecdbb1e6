// Text exactly as Go renders it, for the bodies jaeger-agent v1.17.1 produced with
// encoding/json and the time package (reference-agent.md §1.1.1, §1.1.2).
//
// Why not a JSON library's own output: clients and dashboards compare these bodies byte for
// byte in places (golden files, caches keyed on the body), and Go differs from every C++ JSON
// library in details: float64 as 1 not 1.0 and 1e-7 not 1e-07, <>& escaped as \u003c, invalid
// UTF-8 replaced byte by byte with \ufffd, U+2028/U+2029 escaped. nlohmann-json is used where
// those details cannot arise (ASCII-only admin bodies) and by the tests to parse.
//
// Pure functions, thread-safe, no state.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace jagent::http {

// Appends `s` as a JSON string literal (with quotes) the way Go's json.Marshal does
// (escapeHTML on, Go 1.13/1.14 rules: \b and \f as \u0008 / \u000c).
void appendGoJsonString(std::string& out, std::string_view s);

// Appends a float64 the way Go's json.Marshal does: shortest round-trip digits, plain notation
// for 1e-6 <= |v| < 1e21, otherwise exponent notation with "e-7" (not "e-07"). Returns false
// (and appends nothing) for NaN and ±Inf, which json.Marshal refuses (UnsupportedValueError).
[[nodiscard]] bool appendGoJsonFloat64(std::string& out, double v);

// time.Duration.String(): "0s", "1.5µs", "250ms", "1m2.5s", "1h0m0s".
[[nodiscard]] std::string goDurationString(std::chrono::nanoseconds d);

// time.Time marshalled to JSON (RFC 3339 with nanoseconds, trailing zeros trimmed), in UTC:
// "2020-03-01T12:00:00.5Z". Without quotes.
[[nodiscard]] std::string goRfc3339Nano(std::chrono::system_clock::time_point t);

}  // namespace jagent::http
