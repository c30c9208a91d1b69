/// @file
/// Ranks waiting for rank 0's own work (evaluation, reports) for longer than a collective may.
///
/// Why the rendezvous store and not a barrier: a Gloo barrier fails after RADIOSSL_DIST_TIMEOUT
/// (the context's timeout; LibTorch 1.13's Gloo barrier has no per-call one), yet rank 0 may
/// evaluate for many minutes between two collectives. The waiting ranks instead poll a key that
/// rank 0 sets in the c10d::TCPStore. The store is served by rank 0's own process, so if rank 0
/// dies the connection breaks and the next poll throws at once; if rank 0 freezes, the wait ends
/// after RADIOSSL_DIST_WAIT_TIMEOUT seconds (default one day), or a poll that gets no answer
/// fails after RADIOSSL_DIST_TIMEOUT. Either way a radiossl::Error, never a hang.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <string>
#include <thread>
#include <vector>

#include "radiossl/detail/collectives.hpp"
#include "radiossl/dist/launch.hpp"
#include "radiossl/dist/process_group.hpp"
#include "radiossl/error.hpp"

namespace radiossl::dist {

/// Seconds `sync_with_main` lets the other ranks wait for rank 0: RADIOSSL_DIST_WAIT_TIMEOUT,
/// default 86400 (one day). Throws radiossl::Error for a value that is not a positive number.
inline double main_wait_timeout_s() {
  const auto t = detail::env("RADIOSSL_DIST_WAIT_TIMEOUT");
  if (!t) return 86400.0;
  char* end = nullptr;
  const double s = std::strtod(t->c_str(), &end);
  if (end != t->c_str() + t->size() || !(s > 0))
    throw Error("radiossl::dist: RADIOSSL_DIST_WAIT_TIMEOUT='" + *t + "' must be a positive number of seconds");
  return s;
}

/// Collective: every rank calls it at the same point of the program, in the same order. Rank 0
/// publishes `value` and returns it; every other rank waits (up to `timeout_s`, however long
/// rank 0 worked since the last collective) until rank 0 has reached this call and returns rank
/// 0's `value`, so that decisions taken on rank 0 (which cells are done) are the same everywhere.
/// All ranks then pass a barrier, so rank 0 (which serves the store) never leaves before the
/// others have read the key. `what` only names the point in error messages. One process: returns
/// `value`. Throws radiossl::Error when rank 0 died, froze past `timeout_s`, or a rank is lost.
inline std::string sync_with_main(const std::string& what, const std::string& value = {},
                                  double timeout_s = main_wait_timeout_s()) {
  const auto& comm = radiossl::detail::communicator();
  if (!comm || comm->world_size() <= 1) return value;
  std::string out = value;
#ifdef RADIOSSL_HAVE_C10D
  auto* group = dynamic_cast<StoreCommunicator*>(comm.get());
  if (group == nullptr)
    throw Error("radiossl::dist::sync_with_main('" + what + "'): the installed process group has no rendezvous store");
  // The same n-th call on every rank uses the same key; keys are never reused within a job.
  static std::int64_t calls = 0;
  const std::string key = "radiossl/main_wait/" + std::to_string(calls++);
  const std::string who = "rank " + std::to_string(comm->rank()) + " of " + std::to_string(comm->world_size());
  using detail::one_line;
  c10d::Store& store = group->store();
  if (comm->rank() == 0) {
    try {
      store.set(key, std::vector<std::uint8_t>(value.begin(), value.end()));
    } catch (const std::exception& e) {
      throw Error("radiossl::dist: rank 0 could not publish '" + what + "' to the rendezvous store: " + one_line(e));
    }
  } else {
    const auto t0 = std::chrono::steady_clock::now();
    auto pause = std::chrono::milliseconds(1);
    for (;;) {
      bool ready = false;
      try {
        ready = store.check({key});
        if (ready) {
          const auto v = store.get(key);
          out.assign(v.begin(), v.end());
        }
      } catch (const std::exception& e) {
        throw Error("radiossl::dist: " + who + " lost rank 0 while waiting for it to finish '" + what +
                    "' (rank 0 died or its rendezvous store stopped answering): " + one_line(e));
      }
      if (ready) break;
      const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (waited > timeout_s)
        throw Error("radiossl::dist: " + who + " waited " + std::to_string(static_cast<long>(waited)) +
                    " s for rank 0 to finish '" + what + "' (RADIOSSL_DIST_WAIT_TIMEOUT): rank 0 is stuck");
      std::this_thread::sleep_for(pause);
      pause = std::min(pause * 2, std::chrono::milliseconds(200));
    }
  }
  comm->barrier();
#else
  (void)what;
  (void)timeout_s;
#endif
  return out;
}

}  // namespace radiossl::dist
