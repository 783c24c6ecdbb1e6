// The receive seam: a Datagram is the bytes of one UDP payload, borrowed from the receiver that
// produced it (an io_uring provided buffer, later an AF_XDP UMEM frame). Whoever consumes it must
// call release() exactly once, from any thread, after which the bytes are gone.
#pragma once

#include <netinet/in.h>

#include <cstdint>
#include <span>

namespace jagent::receive {

// Implemented by receivers; release() must be thread-safe and must not block for long.
class BufferOwner {
 public:
  virtual void release(uint32_t token) noexcept = 0;

 protected:
  ~BufferOwner() = default;
};

struct Datagram {
  std::span<const uint8_t> bytes;
  sockaddr_in6 peer{};          // sockaddr_in or sockaddr_in6 (family tells), for reject logs
  BufferOwner* owner = nullptr;
  uint32_t token = 0;

  void release() noexcept {
    if (owner) owner->release(token);
    owner = nullptr;
  }
};

// Where receivers hand datagrams. push() never blocks: false means "full", and the receiver
// then counts the drop and releases the buffer itself.
class DatagramSink {
 public:
  virtual bool push(Datagram d) noexcept = 0;

 protected:
  ~DatagramSink() = default;
};

}  // namespace jagent::receive
