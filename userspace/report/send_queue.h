// SendQueue: what a non-blocking stream socket still has to write, in order, as small copied
// pieces (frame headers, control frames) and references to bytes the caller keeps alive (call
// bodies), written with sendmsg over iovecs so a body is never copied into a send buffer.
//
// Ownership: referenced bytes belong to the caller, tagged with an `owner` id; they must stay
// valid until written, or until detach(owner) copied what is left of them (a call that completes
// before its bytes left, e.g. a deadline or an early answer). Copied pieces are owned here.
// Threading: one thread (the transport's I/O thread).
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <span>
#include <vector>

namespace jagent::report {

class SendQueue {
 public:
  // Appends a copy of `bytes`.
  void copy(std::span<const uint8_t> bytes, uint64_t owner = 0);
  // Appends a reference to `bytes` (not copied; see detach()).
  void ref(std::span<const uint8_t> bytes, uint64_t owner);
  // Copies the unwritten part of `owner`'s references into the queue, so the caller may free them.
  void detach(uint64_t owner);

  enum class Flush : uint8_t { kDrained, kBlocked, kError };
  // Writes as much as the socket takes; kError leaves errno set.
  Flush flush(int fd);

  // Bytes ever appended / ever written (positions: a piece is written once written() >= its end).
  [[nodiscard]] uint64_t queued() const noexcept { return queued_; }
  [[nodiscard]] uint64_t written() const noexcept { return written_; }
  [[nodiscard]] uint64_t unsent() const noexcept { return queued_ - written_; }
  [[nodiscard]] bool empty() const noexcept { return pieces_.empty(); }
  // Forgets everything (the connection is gone); positions restart at 0.
  void clear();

 private:
  struct Piece {
    std::vector<uint8_t> own;        // copied bytes (ext == nullptr)
    const uint8_t* ext = nullptr;    // referenced bytes
    size_t size = 0;
    size_t off = 0;                  // bytes of it already written
    uint64_t owner = 0;
    [[nodiscard]] const uint8_t* data() const { return ext ? ext : own.data(); }
  };
  std::deque<Piece> pieces_;
  uint64_t queued_ = 0;
  uint64_t written_ = 0;
};

}  // namespace jagent::report
