// Helpers shared by the unit tests: reading the project's test data (tests/data, whose path the
// build passes as JAGENT_TEST_DATA_DIR) and sending a datagram to a loopback UDP port.
#pragma once

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <cstdint>
#include <fstream>
#include <iterator>
#include <span>
#include <string>
#include <vector>

#include "common/unique_fd.h"

namespace jagent::testing {

// The bytes of tests/data/<name>; an unreadable file fails the current test.
inline std::vector<uint8_t> readTestData(const std::string& name) {
  std::ifstream in(std::string(JAGENT_TEST_DATA_DIR) + "/" + name, std::ios::binary);
  EXPECT_TRUE(in.good()) << name;
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

inline std::string readTestText(const std::string& name) {
  const std::vector<uint8_t> bytes = readTestData(name);
  return {bytes.begin(), bytes.end()};
}

// One datagram to 127.0.0.1:<port>; a short send fails the current test.
inline void sendUdpLoopback(uint16_t port, std::span<const uint8_t> payload) {
  UniqueFd fd(::socket(AF_INET, SOCK_DGRAM, 0));
  sockaddr_in dst{};
  dst.sin_family = AF_INET;
  dst.sin_port = htons(port);
  dst.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::sendto(fd.get(), payload.data(), payload.size(), 0, reinterpret_cast<sockaddr*>(&dst), sizeof dst),
            static_cast<ssize_t>(payload.size()));
}

}  // namespace jagent::testing
