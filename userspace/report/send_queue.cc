#include "report/send_queue.h"

#include <sys/socket.h>
#include <sys/uio.h>

#include <algorithm>
#include <cerrno>

namespace jagent::report {

void SendQueue::copy(std::span<const uint8_t> bytes, uint64_t owner) {
  if (bytes.empty()) return;
  // Consecutive small copies (frame headers, SETTINGS and WINDOW_UPDATE frames) share a piece.
  if (!pieces_.empty() && !pieces_.back().ext && pieces_.back().owner == owner && pieces_.back().size < 4096) {
    Piece& p = pieces_.back();
    p.own.insert(p.own.end(), bytes.begin(), bytes.end());
    p.size += bytes.size();
  } else {
    Piece p;
    p.own.assign(bytes.begin(), bytes.end());
    p.size = bytes.size();
    p.owner = owner;
    pieces_.push_back(std::move(p));
  }
  queued_ += bytes.size();
}

void SendQueue::ref(std::span<const uint8_t> bytes, uint64_t owner) {
  if (bytes.empty()) return;
  Piece p;
  p.ext = bytes.data();
  p.size = bytes.size();
  p.owner = owner;
  pieces_.push_back(std::move(p));
  queued_ += bytes.size();
}

void SendQueue::detach(uint64_t owner) {
  for (Piece& p : pieces_) {
    if (p.owner != owner || !p.ext) continue;
    p.own.assign(p.ext + p.off, p.ext + p.size);
    p.ext = nullptr;
    p.size -= p.off;
    p.off = 0;
  }
}

SendQueue::Flush SendQueue::flush(int fd) {
  constexpr size_t kIov = 64;
  iovec iov[kIov];
  while (!pieces_.empty()) {
    size_t n = 0;
    for (auto it = pieces_.begin(); it != pieces_.end() && n < kIov; ++it)
      iov[n++] = iovec{const_cast<uint8_t*>(it->data() + it->off), it->size - it->off};
    msghdr msg{};
    msg.msg_iov = iov;
    msg.msg_iovlen = n;
    const ssize_t sent = ::sendmsg(fd, &msg, MSG_NOSIGNAL);
    if (sent < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return Flush::kBlocked;
      if (errno == EINTR) continue;
      return Flush::kError;
    }
    written_ += static_cast<uint64_t>(sent);
    auto left = static_cast<size_t>(sent);
    while (left > 0) {
      Piece& p = pieces_.front();
      const size_t take = std::min(left, p.size - p.off);
      p.off += take;
      left -= take;
      if (p.off == p.size) pieces_.pop_front();
    }
  }
  return Flush::kDrained;
}

void SendQueue::clear() {
  pieces_.clear();
  queued_ = written_ = 0;
}

}  // namespace jagent::report
