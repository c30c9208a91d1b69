/// @file
/// A free loopback TCP port for tests that start process groups on this machine, and the guard
/// of those tests.
#pragma once

#include <cstdint>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "support/catch.hpp"

namespace radiossl::test {

/// A TCP port that was free a moment ago (bind to port 0 and ask), so that parallel test runs
/// do not collide on a fixed port.
inline std::uint16_t free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  socklen_t len = sizeof a;
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0);
  ::close(fd);
  return ntohs(a.sin_port);
}

/// The multi-process tests run their ranks over Gloo on loopback (RADIOSSL_DIST_BACKEND=gloo in
/// their environment, also where CUDA and NCCL are present). A build without the Gloo headers (against
/// a pip PyTorch's LibTorch) cannot run them: returns false with a warning, and the test returns.
inline bool gloo_or_warn(bool gloo_built) {
  if (gloo_built) return true;
  WARN("radiossl was built without Gloo: this multi-process test did not run");
  return false;
}

}  // namespace radiossl::test
