#include "report/stdout_reporter.h"

#include <fmt/format.h>

namespace jagent::report {

void StdoutReporter::emit(const EncodedBatch& batch) noexcept {
  const BatchSummary& s = *batch.summary;
  const std::string line =
      fmt::format("batch port={} format={} service={:?} spans={} bytes={}\n", batch.port,
                  formatName(batch.format), s.serviceName(), s.spans,
                  batch.bytes.size());
  std::lock_guard lock(mu_);
  std::fputs(line.c_str(), out_);
  std::fflush(out_);
}

}  // namespace jagent::report
