/// @file
/// Multi-process data parallelism on PyTorch's c10d: a Gloo process group from the launch
/// environment, installed behind detail/collectives.hpp.
///
/// Usage: nothing for one process. Under `torchrun --nproc-per-node N prog` (or srun, mpirun),
/// `dist::init_from_env()` (the Trainer calls it) joins the N processes through a c10d::TCPStore
/// on MASTER_ADDR:MASTER_PORT and a c10d::ProcessGroupGloo; every collective then waits at most
/// RADIOSSL_DIST_TIMEOUT seconds (default 300), so a rank that dies makes the others throw
/// radiossl::Error naming the operation and their rank, never hang.
///
/// Note: the c10d headers are included here directly, not through torch_fwd.hpp: they need the
/// gloo headers (Debian: libgloo-dev) and USE_C10D_GLOO, which cmake/RadiosslDependencies.cmake
/// sets together with RADIOSSL_HAVE_GLOO when it finds them. Without them this header still
/// compiles and one process runs as before; a multi-process launch then fails with a clear error.
#pragma once

#include <signal.h>

#include <chrono>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "radiossl/detail/collectives.hpp"
#include "radiossl/dist/launch.hpp"
#include "radiossl/error.hpp"
#include "radiossl/torch_fwd.hpp"

#include <torch/csrc/autograd/custom_function.h>
#ifdef RADIOSSL_HAVE_GLOO
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#endif

namespace radiossl::dist {

namespace detail {

/// solo-learn's GatherLayer: forward concatenates every rank's tensor; backward sums the
/// gradient of the concatenation over ranks (each rank's loss saw every slice) and returns
/// this rank's slice.
struct GatherWithGrad : torch::autograd::Function<GatherWithGrad> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x) {
    ctx->saved_data["n"] = x.size(0);
    return radiossl::detail::communicator()->all_gather(x);
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const std::int64_t n = ctx->saved_data["n"].toInt();
    torch::Tensor g = grads[0].contiguous().clone();
    radiossl::detail::communicator()->all_reduce_sum_(g);
    return {g.narrow(0, radiossl::detail::communicator()->rank() * n, n)};
  }
};

}  // namespace detail

#ifdef RADIOSSL_HAVE_GLOO

/// A c10d::ProcessGroupGloo (CPU tensors) with radiossl's error reporting: every failed or
/// timed-out collective becomes a radiossl::Error naming the operation, the rank and the timeout.
class GlooCommunicator final : public radiossl::detail::Communicator {
 public:
  /// Joins the job `env` describes; rank 0 serves the rendezvous store. Blocks until every rank
  /// has joined, or throws radiossl::Error after `env.timeout_s`.
  explicit GlooCommunicator(const LaunchEnv& env) : env_(env) {
    const auto timeout = std::chrono::milliseconds(static_cast<std::int64_t>(env.timeout_s * 1000.0));
    try {
      c10d::TCPStoreOptions so;
      so.port = env.master_port;
      so.isServer = env.rank == 0;
      so.numWorkers = static_cast<std::size_t>(env.world_size);
      so.waitWorkers = true;
      so.timeout = timeout;
      store_ = c10::make_intrusive<c10d::TCPStore>(env.master_addr, so);
      auto opts = c10d::ProcessGroupGloo::Options::create(timeout);
      opts->devices.push_back(make_device(env));
      pg_ = c10::make_intrusive<c10d::ProcessGroupGloo>(store_, static_cast<int>(env.rank),
                                                        static_cast<int>(env.world_size), opts);
    } catch (const std::exception& e) {
      throw Error("radiossl::dist: rank " + std::to_string(env.rank) + " of " + std::to_string(env.world_size) +
                  " could not join the job at " + env.master_addr + ":" + std::to_string(env.master_port) +
                  " within " + seconds() + " (RADIOSSL_DIST_TIMEOUT): " + one_line(e));
    }
  }

  [[nodiscard]] std::int64_t world_size() const override { return env_.world_size; }
  [[nodiscard]] std::int64_t rank() const override { return env_.rank; }
  [[nodiscard]] const LaunchEnv& env() const { return env_; }
  /// The rendezvous store, served by rank 0: for waits that may outlast a collective's timeout
  /// (dist/main_wait.hpp).
  [[nodiscard]] c10d::Store& store() const { return *store_; }

  torch::Tensor all_gather_with_grad(const torch::Tensor& t) override {
    return detail::GatherWithGrad::apply(t);
  }

  torch::Tensor all_gather(const torch::Tensor& t) override {
    torch::NoGradGuard no_grad;
    std::vector<torch::Tensor> in{t.detach().contiguous()};
    std::vector<std::vector<torch::Tensor>> out(1);
    for (std::int64_t r = 0; r < env_.world_size; ++r) out[0].push_back(torch::empty_like(in[0]));
    run("all_gather", [&] { return pg_->allgather(out, in); });
    return torch::cat(out[0], 0);
  }

  void all_reduce_sum_(torch::Tensor& t) override {
    torch::NoGradGuard no_grad;
    std::vector<torch::Tensor> v{t.is_contiguous() ? t : t.contiguous()};
    run("all_reduce", [&] { return pg_->allreduce(v); });
    if (!v[0].is_same(t)) t.copy_(v[0]);
  }

  void broadcast_(torch::Tensor& t, std::int64_t root) override {
    torch::NoGradGuard no_grad;
    std::vector<torch::Tensor> v{t.is_contiguous() ? t : t.contiguous()};
    c10d::BroadcastOptions o;
    o.rootRank = root;
    run("broadcast", [&] { return pg_->broadcast(v, o); });
    if (!v[0].is_same(t)) t.copy_(v[0]);
  }

  void barrier() override {
    run("barrier", [&] { return pg_->barrier(); });
  }

 private:
  static std::string one_line(const std::exception& e) {
    if (const auto* ce = dynamic_cast<const c10::Error*>(&e)) return ce->what_without_backtrace();
    std::string s = e.what();
    return s.substr(0, s.find('\n'));
  }

  [[nodiscard]] std::string seconds() const {
    std::string s = std::to_string(env_.timeout_s);
    s.erase(s.find_last_not_of('0') + 1);
    if (!s.empty() && s.back() == '.') s.pop_back();
    return s + " s";
  }

  /// Starts a collective and waits for it; any failure (a peer that closed its connections or
  /// did not answer within the timeout) becomes one radiossl::Error.
  template <class Start>
  void run(const char* op, Start&& start) {
    try {
      c10::intrusive_ptr<c10d::Work> work = start();
      work->wait();
    } catch (const std::exception& e) {
      throw Error(std::string("radiossl::dist: ") + op + " failed on rank " + std::to_string(env_.rank) + " of " +
                  std::to_string(env_.world_size) + " (another rank died or did not answer within " + seconds() +
                  ", RADIOSSL_DIST_TIMEOUT): " + one_line(e));
    }
  }

  /// GLOO_SOCKET_IFNAME picks the interface (as in PyTorch); a loopback master stays on loopback;
  /// otherwise Gloo binds to the address this host's name resolves to.
  static std::shared_ptr<::gloo::transport::Device> make_device(const LaunchEnv& env) {
    if (const auto ifname = dist::detail::env("GLOO_SOCKET_IFNAME"))
      return c10d::ProcessGroupGloo::createDeviceForInterface(*ifname);
    if (env.master_addr == "127.0.0.1" || env.master_addr == "localhost" || env.master_addr == "::1")
      return c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1");
    return c10d::ProcessGroupGloo::createDefaultDevice();
  }

  LaunchEnv env_;
  c10::intrusive_ptr<c10d::Store> store_;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> pg_;
};

#endif  // RADIOSSL_HAVE_GLOO

namespace detail {
/// Gloo writes to its sockets with writev(): once a peer has died, the next write raises SIGPIPE,
/// whose default action ends this process at once, with no message and no exit status, before
/// Gloo can report the broken connection as an error. Python ignores SIGPIPE at startup, so
/// PyTorch never meets this; a C++ program must. A handler the program installed is left alone.
inline void ignore_sigpipe() {
  struct sigaction current {};
  if (::sigaction(SIGPIPE, nullptr, &current) == 0 && current.sa_handler == SIG_DFL) ::signal(SIGPIPE, SIG_IGN);
}
}  // namespace detail

/// Whether a process group is installed (false for one process).
inline bool is_initialized() { return radiossl::detail::communicator() != nullptr; }

/// Joins the job `env` describes and installs its process group behind detail/collectives.hpp.
/// A world of one installs nothing (one process runs exactly as without this header). Calling it
/// again once a group is installed is a no-op, so every Trainer of a program may call it.
inline void init(const LaunchEnv& env) {
  static std::mutex m;
  std::lock_guard lock(m);
  if (is_initialized() || env.world_size <= 1) return;
#ifdef RADIOSSL_HAVE_GLOO
  detail::ignore_sigpipe();
  radiossl::detail::communicator() = std::make_shared<GlooCommunicator>(env);
#else
  throw Error("radiossl::dist: launched as rank " + std::to_string(env.rank) + " of " +
              std::to_string(env.world_size) + " (" + env.launcher +
              ") but radiossl was built without the Gloo headers (Debian: apt-get install libgloo-dev, then "
              "reconfigure)");
#endif
}

/// `init(launch_from_env())`: torchrun's RANK/WORLD_SIZE/MASTER_ADDR/MASTER_PORT, else SLURM's or
/// Open MPI's variables (dist/launch.hpp); nothing to do without them.
inline void init_from_env() { init(launch_from_env()); }

/// Leaves the process group (waits for nothing: call it once every rank is done).
inline void shutdown() { radiossl::detail::communicator().reset(); }

/// Number of processes (1 without a process group).
inline std::int64_t world_size() { return radiossl::detail::world_size(); }
/// This process's rank (0 without a process group).
inline std::int64_t rank() { return radiossl::detail::rank(); }
/// Whether this process writes checkpoints, logs and reports.
inline bool is_main_process() { return rank() == 0; }

}  // namespace radiossl::dist
