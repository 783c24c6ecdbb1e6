// Control-plane error handling: Result<T> = tl::expected<T, Error>.
//
// Setup, configuration and connection code returns Result<T> so that every failure carries
// what was being attempted ("bind 0.0.0.0:6831: Address already in use"). The data plane never
// uses this type: per-packet failures are counted, not returned (see metrics/).
#pragma once

#include <cerrno>
#include <string>
#include <system_error>
#include <utility>

#include <fmt/format.h>
#include <tl/expected.hpp>

namespace jagent {

struct Error {
  std::error_code code;   // errno-style code where one exists, else a generic one
  std::string context;    // human-readable, outermost context first

  [[nodiscard]] std::string message() const {
    if (code) return fmt::format("{}: {}", context, code.message());
    return context;
  }
};

template <typename T>
using Result = tl::expected<T, Error>;

using Unexpected = tl::unexpected<Error>;

// The one place where C "-errno" / "errno" conventions become Errors.
[[nodiscard]] inline Unexpected sysError(int err, std::string context) {
  if (err < 0) err = -err;
  return Unexpected(Error{std::error_code(err, std::system_category()), std::move(context)});
}
[[nodiscard]] inline Unexpected errnoError(std::string context) { return sysError(errno, std::move(context)); }
[[nodiscard]] inline Unexpected makeError(std::string context) {
  return Unexpected(Error{std::make_error_code(std::errc::invalid_argument), std::move(context)});
}

// Prefixes an error with more context: withContext(std::move(r).error(), "attach XDP to ", ifname).
template <typename... Args>
[[nodiscard]] Unexpected withContext(Error e, fmt::format_string<Args...> f, Args&&... args) {
  e.context = fmt::format(f, std::forward<Args>(args)...) + ": " + e.context;
  return Unexpected(std::move(e));
}

}  // namespace jagent
