// SourceDropTally: datagrams dropped in the agent (decode queue full on the AF_XDP path), by
// source address and span port, collected on the receive threads and handed in batches to the
// stats thread, which adds them to the pinned source_drops map (one syscall pair per source per
// flush instead of per dropped datagram: drops happen exactly when the agent is overloaded).
//
// Bounded: at most kMaxSources distinct sources between two flushes; drops from further sources
// are counted in overflow() only (the per-port drop counter has them all anyway).
// Threading: add() from any thread (a mutex: it runs only on the drop path); take() from one.
#pragma once

#include <cstdint>
#include <cstring>
#include <map>
#include <mutex>
#include <utility>
#include <vector>

#include "agent_abi.h"

namespace jagent::receive {

class SourceDropTally {
 public:
  static constexpr size_t kMaxSources = 1024;

  void add(const agent_source_key& key) noexcept {
    std::lock_guard lock(mu_);
    auto it = pending_.find(key);
    if (it != pending_.end()) {
      ++it->second;
    } else if (pending_.size() < kMaxSources) {
      pending_.emplace(key, 1);
    } else {
      ++overflow_;
    }
  }

  [[nodiscard]] std::vector<std::pair<agent_source_key, uint64_t>> take() {
    std::lock_guard lock(mu_);
    std::vector<std::pair<agent_source_key, uint64_t>> out(pending_.begin(), pending_.end());
    pending_.clear();
    return out;
  }

  [[nodiscard]] uint64_t overflow() const {
    std::lock_guard lock(mu_);
    return overflow_;
  }

 private:
  struct Less {
    bool operator()(const agent_source_key& a, const agent_source_key& b) const noexcept {
      return std::memcmp(&a, &b, sizeof a) < 0;
    }
  };
  mutable std::mutex mu_;
  std::map<agent_source_key, uint64_t, Less> pending_;
  uint64_t overflow_ = 0;
};

}  // namespace jagent::receive
