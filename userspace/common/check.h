// JAGENT_CHECK(cond): an invariant check that must hold whatever bytes arrive.
//
// Why not assert: the fuzz targets and the sanitizer build are where an overrun of a computed
// bound (e.g. the transcoder's output budget) must be seen, and they used to build with NDEBUG,
// which compiled the asserts out. JAGENT_CHECK is on (abort with file:line) wherever
// JAGENT_ENABLE_CHECKS is defined — CMake defines it for JAGENT_SANITIZE and the fuzz build —
// and an assert() elsewhere, so release data paths keep their speed while debug builds still
// trap.
#pragma once

#include <cassert>
#include <cstdio>
#include <cstdlib>

#if defined(JAGENT_ENABLE_CHECKS)
#define JAGENT_CHECK(cond)                                                                   \
  do {                                                                                       \
    if (!(cond)) [[unlikely]] {                                                              \
      std::fprintf(stderr, "%s:%d: JAGENT_CHECK failed: %s\n", __FILE__, __LINE__, #cond);   \
      std::abort();                                                                          \
    }                                                                                        \
  } while (0)
#else
#define JAGENT_CHECK(cond) assert(cond)
#endif
