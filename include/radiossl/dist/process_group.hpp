/// @file
/// Multi-process data parallelism on PyTorch's c10d: a Gloo (CPU) or NCCL (CUDA) process group
/// from the launch environment, installed behind detail/collectives.hpp.
///
/// Usage: nothing for one process. Under `torchrun --nproc-per-node N prog` (or srun, mpirun),
/// `dist::init_from_env()` (the Trainer calls it) joins the N processes through a c10d::TCPStore
/// on MASTER_ADDR:MASTER_PORT and a c10d::ProcessGroupGloo or c10d::ProcessGroupNCCL
/// (RADIOSSL_DIST_BACKEND, default auto: NCCL when CUDA devices are visible and radiossl was built
/// with it); every collective then waits at most RADIOSSL_DIST_TIMEOUT seconds (default 300), so a
/// rank that dies makes the others throw radiossl::Error naming the operation and their rank,
/// never hang.
///
/// Note: the c10d headers are included here directly, not through torch_fwd.hpp. Gloo's need the
/// gloo headers (Debian: libgloo-dev) and USE_C10D_GLOO; NCCL's need nccl.h, the CUDA headers and
/// USE_C10D_NCCL. cmake/RadiosslDependencies.cmake sets those together with RADIOSSL_HAVE_GLOO
/// and RADIOSSL_HAVE_NCCL when it finds them. Without either this header still compiles and one
/// process runs as before; a multi-process launch then fails with a clear error.
#pragma once

#include <signal.h>
#include <stdlib.h>

#include <chrono>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "radiossl/detail/collectives.hpp"
#include "radiossl/dist/launch.hpp"
#include "radiossl/error.hpp"
#include "radiossl/torch_fwd.hpp"

#include <c10/core/impl/DeviceGuardImplInterface.h>
#include <torch/csrc/autograd/custom_function.h>
#if defined(RADIOSSL_HAVE_GLOO) || defined(RADIOSSL_HAVE_NCCL)
#define RADIOSSL_HAVE_C10D 1
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#endif
#ifdef RADIOSSL_HAVE_GLOO
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#endif
#ifdef RADIOSSL_HAVE_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

namespace radiossl::dist {

/// The c10d backend that carries the collectives.
enum class Backend { gloo, nccl };

inline const char* backend_name(Backend b) { return b == Backend::nccl ? "nccl" : "gloo"; }

/// Which backend a job uses: `requested` is LaunchEnv::backend ("auto", "gloo" or "nccl"). auto
/// picks NCCL when CUDA devices are visible and NCCL was built in, else Gloo. Throws
/// radiossl::Error saying what is missing when the request cannot be met. Pure (tested on CPU).
inline Backend resolve_backend(const std::string& requested, bool cuda_available, bool gloo_built, bool nccl_built) {
  const std::string no_gloo =
      "radiossl was built without the Gloo headers (Debian: apt-get install libgloo-dev, then reconfigure)";
  const std::string no_nccl =
      "radiossl was built without NCCL (it needs a CUDA LibTorch, nccl.h and the CUDA headers at configure time; "
      "cmake/RadiosslDependencies.cmake)";
  if (requested == "gloo") {
    if (!gloo_built) throw Error("radiossl::dist: RADIOSSL_DIST_BACKEND=gloo but " + no_gloo);
    return Backend::gloo;
  }
  if (requested == "nccl") {
    if (!nccl_built) throw Error("radiossl::dist: RADIOSSL_DIST_BACKEND=nccl but " + no_nccl);
    if (!cuda_available)
      throw Error("radiossl::dist: RADIOSSL_DIST_BACKEND=nccl but no CUDA device is visible to this process");
    return Backend::nccl;
  }
  if (requested != "auto")
    throw Error("radiossl::dist: RADIOSSL_DIST_BACKEND='" + requested + "' must be auto, gloo or nccl");
  if (cuda_available && nccl_built) return Backend::nccl;
  if (gloo_built) return Backend::gloo;
  throw Error("radiossl::dist: no process group backend: " + no_gloo +
              (nccl_built ? "; NCCL is built in but no CUDA device is visible" : "; and " + no_nccl));
}

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

inline std::string one_line(const std::exception& e) {
  if (const auto* ce = dynamic_cast<const c10::Error*>(&e)) return ce->what_without_backtrace();
  std::string s = e.what();
  return s.substr(0, s.find('\n'));
}

}  // namespace detail

#ifdef RADIOSSL_HAVE_C10D
namespace detail {

/// Asks `o` (c10d::TCPStoreOptions) for the classic store where LibTorch offers libuv's (2.x);
/// false where there is no choice to make (1.13).
template <class StoreOptions>
bool without_libuv(StoreOptions& o) {
  if constexpr (requires { o.useLibUV; }) {
    if (!o.useLibUV) return false;
    o.useLibUV = false;
    return true;
  } else {
    return false;
  }
}

}  // namespace detail

/// What every c10d process group shares: the job's place, the rendezvous store (served by rank 0)
/// and radiossl's error reporting, which turns every failed or timed-out collective into a
/// radiossl::Error naming the operation, the rank and the timeout.
class StoreCommunicator : public radiossl::detail::Communicator {
 public:
  [[nodiscard]] std::int64_t world_size() const override { return env_.world_size; }
  [[nodiscard]] std::int64_t rank() const override { return env_.rank; }
  [[nodiscard]] const LaunchEnv& env() const { return env_; }
  [[nodiscard]] Backend backend() const { return backend_; }
  /// The rendezvous store, served by rank 0: for waits that may outlast a collective's timeout
  /// (dist/main_wait.hpp).
  [[nodiscard]] c10d::Store& store() const { return *store_; }

  torch::Tensor all_gather_with_grad(const torch::Tensor& t) override { return detail::GatherWithGrad::apply(t); }

 protected:
  /// Joins the rendezvous store; blocks until every rank has, or throws radiossl::Error after
  /// `env.timeout_s`.
  StoreCommunicator(const LaunchEnv& env, Backend backend) : env_(env), backend_(backend) {
    try {
      c10d::TCPStoreOptions so;
      so.port = env.master_port;
      so.isServer = env.rank == 0;
      so.numWorkers = static_cast<std::size_t>(env.world_size);
      so.waitWorkers = true;
      so.timeout = timeout();
      try {
        store_ = c10::make_intrusive<c10d::TCPStore>(env.master_addr, so);
      } catch (const std::exception& e) {
        // LibTorch 2.4+ asks for its libuv store by default, and one built without libuv (Debian
        // 13's 2.6) refuses before opening any socket: take the classic store, as 1.13 always did.
        if (std::string_view(e.what()).find("libuv") == std::string_view::npos || !detail::without_libuv(so)) throw;
        store_ = c10::make_intrusive<c10d::TCPStore>(env.master_addr, so);
      }
    } catch (const std::exception& e) {
      throw join_error(e);
    }
  }

  [[nodiscard]] std::chrono::milliseconds timeout() const {
    return std::chrono::milliseconds(static_cast<std::int64_t>(env_.timeout_s * 1000.0));
  }

  [[nodiscard]] Error join_error(const std::exception& e) const {
    return Error("radiossl::dist: rank " + std::to_string(env_.rank) + " of " + std::to_string(env_.world_size) +
                 " could not join the " + backend_name(backend_) + " job at " + env_.master_addr + ":" +
                 std::to_string(env_.master_port) + " within " + seconds() + " (RADIOSSL_DIST_TIMEOUT): " +
                 detail::one_line(e));
  }

  [[nodiscard]] std::string seconds() const {
    std::string s = std::to_string(env_.timeout_s);
    s.erase(s.find_last_not_of('0') + 1);
    if (!s.empty() && s.back() == '.') s.pop_back();
    return s + " s";
  }

  /// NCCL carries CUDA tensors only: say so before c10d's own message would.
  void check_device(const char* op, const torch::Tensor& t) const {
    if (backend_ == Backend::nccl && !t.is_cuda())
      throw Error(std::string("radiossl::dist: ") + op + " on rank " + std::to_string(env_.rank) +
                  ": the NCCL process group carries CUDA tensors only, and this one is on " + t.device().str() +
                  " (train on the GPU, or set RADIOSSL_DIST_BACKEND=gloo)");
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
                  ", RADIOSSL_DIST_TIMEOUT): " + detail::one_line(e));
    }
  }

  LaunchEnv env_;
  Backend backend_;
  c10::intrusive_ptr<c10d::Store> store_;
};

/// The collectives on one c10d process group type (ProcessGroupGloo or ProcessGroupNCCL: they
/// share c10d's virtual interface, c10d::ProcessGroup in LibTorch 1.x and c10d::Backend in 2.x).
template <class Group>
class C10dCommunicator final : public StoreCommunicator {
 public:
  /// Joins the job `env` describes: the store, then `make_group(store, env, timeout)`.
  template <class MakeGroup>
  C10dCommunicator(const LaunchEnv& env, Backend backend, MakeGroup&& make_group) : StoreCommunicator(env, backend) {
    try {
      pg_ = make_group(store_, env_, timeout());
    } catch (const std::exception& e) {
      throw join_error(e);
    }
  }

  torch::Tensor all_gather(const torch::Tensor& t) override {
    check_device("all_gather", t);
    torch::NoGradGuard no_grad;
    std::vector<torch::Tensor> in{t.detach().contiguous()};
    std::vector<std::vector<torch::Tensor>> out(1);
    for (std::int64_t r = 0; r < env_.world_size; ++r) out[0].push_back(torch::empty_like(in[0]));
    run("all_gather", [&] { return pg_->allgather(out, in); });
    return torch::cat(out[0], 0);
  }

  void all_reduce_sum_(torch::Tensor& t) override {
    check_device("all_reduce", t);
    torch::NoGradGuard no_grad;
    std::vector<torch::Tensor> v{t.is_contiguous() ? t : t.contiguous()};
    run("all_reduce", [&] { return pg_->allreduce(v); });
    if (!v[0].is_same(t)) t.copy_(v[0]);
  }

  void broadcast_(torch::Tensor& t, std::int64_t root) override {
    check_device("broadcast", t);
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
  c10::intrusive_ptr<Group> pg_;
};

#endif  // RADIOSSL_HAVE_C10D

#ifdef RADIOSSL_HAVE_GLOO

/// A c10d::ProcessGroupGloo (CPU tensors; CUDA ones too where LibTorch's Gloo was built with CUDA).
using GlooCommunicator = C10dCommunicator<c10d::ProcessGroupGloo>;

namespace detail {
/// GLOO_SOCKET_IFNAME picks the interface (as in PyTorch); a loopback master stays on loopback;
/// otherwise Gloo binds to the address this host's name resolves to.
inline std::shared_ptr<::gloo::transport::Device> gloo_device(const LaunchEnv& env) {
  if (const auto ifname = dist::detail::env("GLOO_SOCKET_IFNAME"))
    return c10d::ProcessGroupGloo::createDeviceForInterface(*ifname);
  if (env.master_addr == "127.0.0.1" || env.master_addr == "localhost" || env.master_addr == "::1")
    return c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1");
  return c10d::ProcessGroupGloo::createDefaultDevice();
}
}  // namespace detail

/// Joins the job `env` describes over Gloo (rank 0 serves the rendezvous store); blocks until
/// every rank has joined, or throws radiossl::Error after `env.timeout_s`.
inline std::shared_ptr<GlooCommunicator> make_gloo_communicator(const LaunchEnv& env) {
  return std::make_shared<GlooCommunicator>(
      env, Backend::gloo,
      [](const c10::intrusive_ptr<c10d::Store>& store, const LaunchEnv& e, std::chrono::milliseconds timeout) {
        auto opts = c10d::ProcessGroupGloo::Options::create(timeout);
        opts->devices.push_back(detail::gloo_device(e));
        return c10::make_intrusive<c10d::ProcessGroupGloo>(store, static_cast<int>(e.rank),
                                                           static_cast<int>(e.world_size), opts);
      });
}

#endif  // RADIOSSL_HAVE_GLOO

#ifdef RADIOSSL_HAVE_NCCL

/// A c10d::ProcessGroupNCCL: CUDA tensors, one GPU per process (the current device, which
/// dist::init sets from LOCAL_RANK).
using NcclCommunicator = C10dCommunicator<c10d::ProcessGroupNCCL>;

/// Joins the job `env` describes over NCCL. ProcessGroupNCCL's wait() only orders the streams
/// unless blocking wait is on; radiossl turns it on (TORCH_NCCL_BLOCKING_WAIT=1, and LibTorch
/// 1.x's NCCL_BLOCKING_WAIT, unless already set) so that a collective a dead rank never joins
/// throws after RADIOSSL_DIST_TIMEOUT here, as with Gloo, instead of PyTorch's watchdog ending
/// the process. The cost is one host wait per collective; the Trainer already reads the loss
/// on the host every step.
inline std::shared_ptr<NcclCommunicator> make_nccl_communicator(const LaunchEnv& env) {
  ::setenv("TORCH_NCCL_BLOCKING_WAIT", "1", 0);
  ::setenv("NCCL_BLOCKING_WAIT", "1", 0);
  return std::make_shared<NcclCommunicator>(
      env, Backend::nccl,
      [](const c10::intrusive_ptr<c10d::Store>& store, const LaunchEnv& e, std::chrono::milliseconds timeout) {
        auto opts = c10d::ProcessGroupNCCL::Options::create();
        opts->timeout = timeout;
        return c10::make_intrusive<c10d::ProcessGroupNCCL>(store, static_cast<int>(e.rank),
                                                           static_cast<int>(e.world_size), opts);
      });
}

#endif  // RADIOSSL_HAVE_NCCL

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

/// Whether this build has each backend.
inline constexpr bool gloo_built =
#ifdef RADIOSSL_HAVE_GLOO
    true;
#else
    false;
#endif
inline constexpr bool nccl_built =
#ifdef RADIOSSL_HAVE_NCCL
    true;
#else
    false;
#endif

/// Joins the job `env` describes and installs its process group behind detail/collectives.hpp.
/// A world of one installs nothing (one process runs exactly as without this header). Calling it
/// again once a group is installed is a no-op, so every Trainer of a program may call it. With
/// CUDA devices visible, the current device becomes LOCAL_RANK modulo their count first (one GPU
/// per process of a node, as torchrun jobs expect), so that `torch::kCUDA` means this rank's GPU.
inline void init(const LaunchEnv& env) {
  static std::mutex m;
  std::lock_guard lock(m);
  if (is_initialized() || env.world_size <= 1) return;
  const bool cuda = torch::cuda::is_available();
  Backend backend = Backend::gloo;
  try {
    backend = resolve_backend(env.backend, cuda, gloo_built, nccl_built);
  } catch (const Error& e) {
    throw Error(std::string(e.what()) + " (launched as rank " + std::to_string(env.rank) + " of " +
                std::to_string(env.world_size) + " by " + env.launcher + ")");
  }
  if (cuda) {
    const auto count = static_cast<std::int64_t>(torch::cuda::device_count());
    c10::impl::getDeviceGuardImpl(c10::DeviceType::CUDA)
        ->setDevice(c10::Device(c10::DeviceType::CUDA, static_cast<c10::DeviceIndex>(env.local_rank % count)));
  }
  detail::ignore_sigpipe();
#ifdef RADIOSSL_HAVE_NCCL
  if (backend == Backend::nccl) {
    radiossl::detail::communicator() = make_nccl_communicator(env);
    return;
  }
#endif
#ifdef RADIOSSL_HAVE_GLOO
  if (backend == Backend::gloo) {
    radiossl::detail::communicator() = make_gloo_communicator(env);
    return;
  }
#endif
  throw Error(std::string("radiossl::dist: internal: backend ") + backend_name(backend) + " resolved but not built");
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
