/// @file
/// Tests of multi-process data parallelism: the launch environment, the loader's sharding, and
/// real 2-process jobs on loopback Gloo (this test binary re-runs itself as the ranks).
#include "support/catch.hpp"

#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "radiossl/augment/presets.hpp"
#include "radiossl/backbone/resnet.hpp"
#include "radiossl/data/loader.hpp"
#include "radiossl/dist/launch.hpp"
#include "radiossl/dist/process_group.hpp"
#include "radiossl/dist/sync_batch_norm.hpp"
#include "radiossl/detail/sinkhorn.hpp"
#include "radiossl/loss/all4one.hpp"
#include "radiossl/loss/dino.hpp"
#include "radiossl/loss/nt_xent.hpp"
#include "radiossl/method/simclr.hpp"
#include "radiossl/method/swav.hpp"
#include "radiossl/optim/lars.hpp"
#include "radiossl/trainer.hpp"
#include "support/loopback.hpp"

extern char** environ;

using namespace radiossl;
namespace fs = std::filesystem;

namespace {

/// Sets environment variables for a scope and restores the previous values.
class ScopedEnv {
 public:
  explicit ScopedEnv(const std::map<std::string, std::optional<std::string>>& vars) {
    for (const auto& [k, v] : vars) {
      const char* old = std::getenv(k.c_str());
      saved_[k] = old ? std::optional<std::string>(old) : std::nullopt;
      if (v) ::setenv(k.c_str(), v->c_str(), 1);
      else ::unsetenv(k.c_str());
    }
  }
  ~ScopedEnv() {
    for (const auto& [k, v] : saved_) {
      if (v) ::setenv(k.c_str(), v->c_str(), 1);
      else ::unsetenv(k.c_str());
    }
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  std::map<std::string, std::optional<std::string>> saved_;
};

const std::vector<std::string> launch_vars = {"RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT",
                                              "SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID", "SLURM_NNODES",
                                              "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE",
                                              "OMPI_COMM_WORLD_LOCAL_RANK", "OMPI_COMM_WORLD_LOCAL_SIZE",
                                              "RADIOSSL_DIST_TIMEOUT", "RADIOSSL_DIST_BACKEND"};

/// Only `vars` set among the launch variables.
std::map<std::string, std::optional<std::string>> only(const std::map<std::string, std::string>& vars) {
  std::map<std::string, std::optional<std::string>> m;
  for (const auto& k : launch_vars) m[k] = std::nullopt;
  for (const auto& [k, v] : vars) m[k] = v;
  return m;
}

using radiossl::test::free_port;

fs::path fresh_dir(const std::string& name) {
  auto d = fs::temp_directory_path() / ("radiossl_dist_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

std::string slurp(const fs::path& p) {
  std::ifstream f(p);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

/// One rank of a job: this test binary running the hidden worker test.
struct Rank {
  pid_t pid = -1;
  int status = -1;
  bool done = false;
  double seconds = 0;
};

/// Starts `world` ranks of the hidden worker in `mode`, each logging to `<dir>/rank<r>.log`.
std::vector<Rank> launch(const std::string& mode, const fs::path& dir, int world, double timeout_s) {
  const std::string exe = fs::read_symlink("/proc/self/exe").string();
  const std::string port = std::to_string(free_port());
  std::vector<Rank> ranks(static_cast<std::size_t>(world));
  for (int r = 0; r < world; ++r) {
    std::vector<std::string> env;
    for (char** e = environ; *e != nullptr; ++e) {
      const std::string kv = *e;
      const std::string key = kv.substr(0, kv.find('='));
      if (std::find(launch_vars.begin(), launch_vars.end(), key) == launch_vars.end()) env.push_back(kv);
    }
    env.push_back("RANK=" + std::to_string(r));
    env.push_back("LOCAL_RANK=" + std::to_string(r));
    env.push_back("WORLD_SIZE=" + std::to_string(world));
    env.push_back("MASTER_ADDR=127.0.0.1");
    env.push_back("MASTER_PORT=" + port);
    env.push_back("RADIOSSL_DIST_TIMEOUT=" + std::to_string(timeout_s));
    env.push_back("RADIOSSL_DIST_BACKEND=gloo");  // CPU replicas, also on a machine with CUDA and NCCL
    env.push_back("RADIOSSL_TEST_DIST_MODE=" + mode);
    env.push_back("RADIOSSL_TEST_DIST_OUT=" + dir.string());
    std::vector<char*> envp;
    for (auto& s : env) envp.push_back(s.data());
    envp.push_back(nullptr);
    std::vector<std::string> args = {exe, "[dist_worker]"};
    std::vector<char*> argv;
    for (auto& s : args) argv.push_back(s.data());
    argv.push_back(nullptr);
    const std::string log = (dir / ("rank" + std::to_string(r) + ".log")).string();
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    pid_t pid = -1;
    const int rc = ::posix_spawn(&pid, exe.c_str(), &fa, nullptr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&fa);
    REQUIRE(rc == 0);
    ranks[static_cast<std::size_t>(r)].pid = pid;
  }
  return ranks;
}

/// Waits for every rank at most `limit_s` seconds, then SIGKILLs the ones left (never hangs);
/// with `until_rank0`, kills the others as soon as rank 0 has ended.
void wait_all(std::vector<Rank>& ranks, double limit_s, bool until_rank0 = false) {
  const auto t0 = std::chrono::steady_clock::now();
  for (;;) {
    bool all = true;
    for (auto& r : ranks) {
      if (r.done) continue;
      int st = 0;
      if (::waitpid(r.pid, &st, WNOHANG) == r.pid) {
        r.done = true;
        r.status = st;
        r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      } else {
        all = false;
      }
    }
    if (all) return;
    if (std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() > limit_s ||
        (until_rank0 && ranks[0].done)) {
      for (auto& r : ranks)
        if (!r.done) {
          ::kill(r.pid, SIGKILL);
          ::waitpid(r.pid, &r.status, 0);
          r.done = true;
          r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        }
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

bool exited_ok(const Rank& r) { return r.status >= 0 && WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0; }

std::vector<Image> random_images(int n, std::int64_t side) {
  std::vector<Image> out;
  std::mt19937 g(42);
  std::uniform_real_distribution<float> u(0.0F, 1.0F);
  for (int i = 0; i < n; ++i) {
    Image im(1, side, side);
    for (auto& p : im.pixels) p = u(g);
    out.push_back(std::move(im));
  }
  return out;
}

using DistTrainer = Trainer<backbone::ResNet18, method::SimCLR, augment::RadioSymmetric, optim::LARS>;

/// A small backbone built with synchronisable BatchNorm (two conv-BN-ReLU stages).
struct SyncNetImpl : torch::nn::Cloneable<SyncNetImpl> {
  SyncNetImpl() { reset(); }
  void reset() override {
    conv1 = register_module("conv1", torch::nn::Conv2d(torch::nn::Conv2dOptions(3, 8, 3).stride(2).bias(false)));
    bn1 = register_module("bn1", dist::SyncBatchNorm2d(8));
    conv2 = register_module("conv2", torch::nn::Conv2d(torch::nn::Conv2dOptions(8, 16, 3).stride(2).bias(false)));
    bn2 = register_module("bn2", dist::SyncBatchNorm2d(16));
  }
  torch::Tensor forward(torch::Tensor x) {
    x = bn1(conv1(x)).relu();
    return bn2(conv2(x)).relu().mean({2, 3});
  }
  [[nodiscard]] std::int64_t feature_dim() const { return 16; }
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr};
  dist::SyncBatchNorm2d bn1{nullptr}, bn2{nullptr};
};
TORCH_MODULE(SyncNet);

/// SimCLR numbering its samples uniquely over ranks (arange + rank * n), as NT-Xent's positive
/// mask needs once embeddings are gathered; method/simclr.hpp numbers every rank's batch from 0.
struct GlobalSimCLRImpl : method::SimCLRImpl {
  using method::SimCLRImpl::SimCLRImpl;
  template <Backbone B>
  StepOutput training_step(B& backbone, const Views& views) {
    std::vector<torch::Tensor> z;
    for (const auto& v : views) z.push_back(projector->forward(backbone->forward(v)));
    const std::int64_t n = views[0].size(0);
    const torch::Tensor idx = (torch::arange(n, torch::kLong) + radiossl::detail::rank() * n)
                                  .repeat({static_cast<std::int64_t>(views.size())});
    return {loss::nt_xent(torch::cat(z), idx, options().temperature()), {}};
  }
};
TORCH_MODULE(GlobalSimCLR);

using SyncTrainer = Trainer<SyncNet, GlobalSimCLR, augment::RadioSymmetric, optim::LARS>;

TrainerOptions worker_options(const fs::path& out) {
  return TrainerOptions()
      .epochs(2)
      .batch_size(4)
      .warmup_epochs(0.0)
      .stop_after_steps(3)
      .seed(3)
      .device(torch::Device(torch::kCPU))
      .progress(false)
      .out_dir(out.string());
}

/// random_images(48, 40) with every third sample unreadable, as a survey folder with corrupt
/// cut-outs: each rank's loader meets some, and differently.
struct WithBadFiles {
  data::MemorySource images{random_images(48, 40)};
  [[nodiscard]] std::int64_t size() const { return images.size(); }
  [[nodiscard]] Image load(std::int64_t i) const {
    if (i % 3 == 0) throw Error("corrupt header");
    return images.load(i);
  }
  [[nodiscard]] std::int64_t label(std::int64_t i) const { return images.label(i); }
};

method::SimCLROptions small_simclr() { return method::SimCLROptions().proj_hidden_dim(64).proj_output_dim(32); }
augment::RadioSymmetric small_augment() { return augment::RadioSymmetric(augment::PretrainOptions{.size = 32}); }

using SwAVTrainer = Trainer<backbone::ResNet18, method::SwAV, augment::RadioSymmetric, optim::LARS>;

/// SwAV with its queue in use from the first step: 8 rows per rank of 2, full after 2 steps of 4.
method::SwAVOptions small_swav() {
  return method::SwAVOptions()
      .proj_hidden_dim(64)
      .proj_output_dim(32)
      .num_prototypes(16)
      .queue_size(16)
      .epoch_queue_starts(0)
      .freeze_prototypes_epochs(0);
}

/// All parameters and buffers of the backbone and method in one flat double tensor.
template <class T>
torch::Tensor flat_state(T& t) {
  std::vector<torch::Tensor> parts;
  for (auto& p : t.backbone()->parameters()) parts.push_back(p.detach().reshape(-1).to(torch::kDouble));
  for (auto& b : t.backbone()->buffers()) parts.push_back(b.detach().reshape(-1).to(torch::kDouble));
  for (auto& p : t.method()->parameters()) parts.push_back(p.detach().reshape(-1).to(torch::kDouble));
  return torch::cat(parts);
}

void write_text(const fs::path& p, const std::string& s) {
  std::ofstream f(p);
  f << s;
}

/// SyncBatchNorm2d on this rank's half of a batch against LibTorch's BatchNorm on the whole
/// batch (what one process would compute): output, input/weight/bias gradients, running stats.
/// How many SyncBatchNorm layers of `module` synchronise, and how many do not.
std::pair<int, int> synced_and_not(torch::nn::Module& module) {
  std::pair<int, int> n{0, 0};
  for (const auto& m : module.modules())
    if (const auto* s = dynamic_cast<const dist::SyncBatchNormSwitch*>(m.get())) ++(s->sync() ? n.first : n.second);
  return n;
}

std::string check_sync_batch_norm(torch::ScalarType dtype, double tol) {
  const std::int64_t r = dist::rank(), w = dist::world_size();
  auto gen = at::detail::createCPUGenerator(77);
  const torch::Tensor x = (torch::randn({4 * w, 3, 5, 5}, gen, torch::kDouble) * 2.0 + 1.0).to(dtype);
  const torch::Tensor weights = torch::randn({4 * w, 3, 5, 5}, gen, torch::kDouble).to(dtype);
  auto make = [&] {
    dist::SyncBatchNorm2d bn(torch::nn::BatchNorm2dOptions(3).momentum(0.3));
    bn->to(dtype);
    torch::NoGradGuard ng;
    bn->weight.copy_(torch::tensor({0.5, 1.5, -2.0}));
    bn->bias.copy_(torch::tensor({0.1, -0.2, 0.3}));
    return bn;
  };
  auto ref = make();
  const torch::Tensor xr = x.clone().requires_grad_(true);
  const torch::Tensor yr = ref(xr);
  (yr * weights).sum().backward();

  auto bn = make();
  bn->set_sync(true);
  const torch::Tensor xl = x.narrow(0, 4 * r, 4).clone().requires_grad_(true);
  const torch::Tensor yl = bn(xl);
  (yl * weights.narrow(0, 4 * r, 4)).sum().backward();
  torch::Tensor gw = bn->weight.grad().clone(), gb = bn->bias.grad().clone();
  radiossl::detail::all_reduce_sum_(gw);  // the replicas' gradients summed: the global batch's
  radiossl::detail::all_reduce_sum_(gb);

  std::ostringstream err;
  auto close = [&](const char* what, const torch::Tensor& a, const torch::Tensor& b) {
    const double d = (a.to(torch::kDouble) - b.to(torch::kDouble)).abs().max().item<double>();
    if (!(d <= tol)) err << what << " differs by " << d << " (" << c10::toString(dtype) << "); ";
  };
  close("output", yl, yr.narrow(0, 4 * r, 4));
  close("input gradient", xl.grad(), xr.grad().narrow(0, 4 * r, 4));
  close("weight gradient", gw, ref->weight.grad());
  close("bias gradient", gb, ref->bias.grad());
  close("running_mean", bn->running_mean, ref->running_mean);
  close("running_var", bn->running_var, ref->running_var);
  auto copy = std::dynamic_pointer_cast<dist::SyncBatchNorm2dImpl>(bn->clone());
  if (!copy || !copy->sync() || !torch::equal(copy->running_var, bn->running_var)) err << "clone lost type or state; ";
  return err.str();
}

/// The collectives themselves, on the live group (checked inside each rank).
std::string check_collectives() {
  const std::int64_t r = dist::rank(), w = dist::world_size();
  std::ostringstream err;
  torch::Tensor x = torch::full({2, 3}, static_cast<double>(r + 1));
  torch::Tensor g = radiossl::detail::all_gather(x);
  torch::Tensor expect_g = torch::cat({torch::full({2, 3}, 1.0), torch::full({2, 3}, 2.0)});
  if (w != 2 || !torch::equal(g, expect_g)) err << "all_gather wrong; ";
  torch::Tensor s = torch::full({5}, static_cast<double>(r + 1));
  radiossl::detail::all_reduce_sum_(s);
  if (!torch::equal(s, torch::full({5}, 3.0))) err << "all_reduce_sum_ wrong; ";
  // Each rank's loss sees every slice, so the own slice's gradient is the sum over ranks.
  torch::Tensor y = torch::full({2, 3}, static_cast<double>(r + 1)).requires_grad_(true);
  torch::Tensor weights = torch::arange(12, torch::kDouble).reshape({4, 3});
  (radiossl::detail::all_gather_with_grad(y) * weights).sum().backward();
  if (!torch::equal(y.grad(), 2.0 * weights.narrow(0, 2 * r, 2))) err << "all_gather_with_grad backward wrong; ";
  return err.str();
}

/// The methods' cross-rank reductions (methods.md 3.8) on the live group: each rank holds its
/// slice of one global batch, and the result must be the global batch's, computed here in one
/// process with plain tensor operations (checked inside each rank).
std::string check_method_collectives() {
  const std::int64_t r = dist::rank(), w = dist::world_size(), n = 4;
  auto gen = at::detail::createCPUGenerator(91);
  std::ostringstream err;
  auto close = [&](const char* what, const torch::Tensor& a, const torch::Tensor& b) {
    const double d = (a - b).abs().max().item<double>();
    if (!(d <= 1e-12)) err << what << " differs from the global batch's by " << d << "; ";
  };
  // SwAV's Sinkhorn: sums over all ranks' samples, B = N x world.
  const torch::Tensor scores = torch::randn({n * w, 6}, gen, torch::kDouble) * 0.3;
  torch::Tensor q = (scores / 0.05).exp().t();
  q /= q.sum();
  for (int it = 0; it < 3; ++it) {
    q /= q.sum(1, true);
    q /= 6.0;
    q /= q.sum(0, true);
    q /= static_cast<double>(n * w);
  }
  q = (q * static_cast<double>(n * w)).t();
  close("sinkhorn", radiossl::detail::sinkhorn(scores.narrow(0, n * r, n), 0.05, 3), q.narrow(0, n * r, n));
  // DINO's centre: the mean teacher logit over the global batch.
  const torch::Tensor teacher = torch::randn({n * w, 5}, gen, torch::kDouble);
  close("dino centre", loss::dino_batch_center(teacher.narrow(0, n * r, n)), teacher.mean(0, true));
  // NNCLR (All4One): anchors against every rank's predictions, the label offset by the rank; the
  // mean of the ranks' losses is the global batch's loss.
  const torch::Tensor nn = torch::randn({n * w, 8}, gen, torch::kDouble);
  const torch::Tensor p = torch::randn({n * w, 8}, gen, torch::kDouble);
  torch::Tensor local = loss::nnclr(nn.narrow(0, n * r, n), p.narrow(0, n * r, n), 0.1).detach();
  radiossl::detail::all_reduce_sum_(local);
  const torch::Tensor logits = radiossl::detail::l2_normalize(nn, 1).mm(radiossl::detail::l2_normalize(p, 1).t()) / 0.1;
  close("nnclr loss", local / static_cast<double>(w),
        torch::nn::functional::cross_entropy(logits, torch::arange(n * w, torch::kLong)));
  return err.str();
}

}  // namespace

TEST_CASE("dist: the launch environment of torchrun, SLURM and mpirun", "[dist]") {
  SECTION("no launcher: one process") {
    ScopedEnv e(only({}));
    const auto l = dist::launch_from_env();
    CHECK(l.world_size == 1);
    CHECK(l.rank == 0);
    CHECK(l.launcher == "none");
    CHECK(l.timeout_s == 300.0);
    CHECK(l.backend == "auto");
  }
  SECTION("torchrun") {
    ScopedEnv e(only({{"RANK", "3"}, {"WORLD_SIZE", "8"}, {"LOCAL_RANK", "1"}, {"MASTER_ADDR", "node7"},
                      {"MASTER_PORT", "29511"}, {"RADIOSSL_DIST_TIMEOUT", "12.5"}}));
    const auto l = dist::launch_from_env();
    CHECK(l.launcher == "torchrun");
    CHECK(l.rank == 3);
    CHECK(l.world_size == 8);
    CHECK(l.local_rank == 1);
    CHECK(l.master_addr == "node7");
    CHECK(l.master_port == 29511);
    CHECK(l.timeout_s == 12.5);
  }
  SECTION("SLURM and Open MPI") {
    {
      ScopedEnv e(only({{"SLURM_PROCID", "1"}, {"SLURM_NTASKS", "2"}, {"SLURM_LOCALID", "1"}, {"SLURM_NNODES", "1"}}));
      const auto l = dist::launch_from_env();
      CHECK(l.launcher == "slurm");
      CHECK((l.rank == 1 && l.world_size == 2 && l.local_rank == 1));
    }
    {
      ScopedEnv e(only({{"SLURM_PROCID", "1"}, {"SLURM_NTASKS", "8"}, {"SLURM_NNODES", "2"}}));
      CHECK_THROWS_WITH(dist::launch_from_env(), Catch::Contains("MASTER_ADDR is not set"));
    }
    {
      ScopedEnv e(only({{"OMPI_COMM_WORLD_RANK", "2"}, {"OMPI_COMM_WORLD_SIZE", "4"},
                        {"OMPI_COMM_WORLD_LOCAL_RANK", "0"}, {"MASTER_ADDR", "h0"}}));
      const auto l = dist::launch_from_env();
      CHECK(l.launcher == "openmpi");
      CHECK((l.rank == 2 && l.world_size == 4 && l.master_addr == "h0"));
    }
  }
  SECTION("malformed values name the variable") {
    {
      ScopedEnv e(only({{"RANK", "x"}, {"WORLD_SIZE", "2"}}));
      CHECK_THROWS_WITH(dist::launch_from_env(), Catch::Contains("RANK='x'"));
    }
    {
      ScopedEnv e(only({{"RANK", "2"}, {"WORLD_SIZE", "2"}}));
      CHECK_THROWS_WITH(dist::launch_from_env(), Catch::Contains("outside [0, WORLD_SIZE=2)"));
    }
    {
      ScopedEnv e(only({{"MASTER_PORT", "70000"}}));
      CHECK_THROWS_WITH(dist::launch_from_env(), Catch::Contains("MASTER_PORT"));
    }
    {
      ScopedEnv e(only({{"RADIOSSL_DIST_TIMEOUT", "0"}}));
      CHECK_THROWS_WITH(dist::launch_from_env(), Catch::Contains("RADIOSSL_DIST_TIMEOUT"));
    }
    {
      ScopedEnv e(only({{"RADIOSSL_DIST_BACKEND", "mpi"}}));
      CHECK_THROWS_WITH(dist::launch_from_env(), Catch::Contains("RADIOSSL_DIST_BACKEND='mpi'"));
    }
  }
  SECTION("the backend is read as given") {
    ScopedEnv e(only({{"RADIOSSL_DIST_BACKEND", "nccl"}}));
    CHECK(dist::launch_from_env().backend == "nccl");
  }
  SECTION("one process installs no process group: collectives are the identity") {
    ScopedEnv e(only({}));
    dist::init_from_env();
    CHECK_FALSE(dist::is_initialized());
    CHECK(dist::world_size() == 1);
    torch::Tensor t = torch::arange(4);
    CHECK(radiossl::detail::all_gather(t).is_same(t));
    CHECK(radiossl::detail::all_gather_with_grad(t).is_same(t));
  }
}

TEST_CASE("dist: the backend is NCCL on CUDA when built in and Gloo otherwise", "[dist]") {
  using dist::Backend;
  using dist::resolve_backend;
  // requested, CUDA visible, Gloo built, NCCL built
  CHECK(resolve_backend("auto", true, true, true) == Backend::nccl);
  CHECK(resolve_backend("auto", false, true, true) == Backend::gloo);
  CHECK(resolve_backend("auto", true, true, false) == Backend::gloo);  // e.g. Debian's Gloo build with CUDA
  CHECK(resolve_backend("auto", true, false, true) == Backend::nccl);  // pip's LibTorch: no gloo headers
  CHECK(resolve_backend("gloo", true, true, true) == Backend::gloo);
  CHECK(resolve_backend("nccl", true, false, true) == Backend::nccl);
  CHECK_THROWS_WITH(resolve_backend("nccl", true, true, false), Catch::Contains("built without NCCL"));
  CHECK_THROWS_WITH(resolve_backend("nccl", false, true, true), Catch::Contains("no CUDA device"));
  CHECK_THROWS_WITH(resolve_backend("gloo", true, false, true), Catch::Contains("libgloo-dev"));
  CHECK_THROWS_WITH(resolve_backend("auto", false, false, true),
                    Catch::Contains("libgloo-dev") && Catch::Contains("no CUDA device is visible"));
  CHECK_THROWS_WITH(resolve_backend("auto", false, false, false),
                    Catch::Contains("libgloo-dev") && Catch::Contains("without NCCL"));
  CHECK_THROWS_WITH(resolve_backend("mpi", false, true, false), Catch::Contains("auto, gloo or nccl"));
}

TEST_CASE("dist: a backend this build or machine lacks stops the launch at once", "[dist]") {
  // Before any rendezvous: nothing listens on this port, yet the error comes at once, not after the timeout.
  const std::string port = std::to_string(free_port());
  const std::string backend = !dist::nccl_built ? "nccl" : !dist::gloo_built ? "gloo" : "";
  if (backend.empty()) {
    WARN("this build has both Gloo and NCCL: nothing to refuse");
    return;
  }
  ScopedEnv e(only({{"RANK", "1"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "127.0.0.1"}, {"MASTER_PORT", port},
                    {"RADIOSSL_DIST_BACKEND", backend}, {"RADIOSSL_DIST_TIMEOUT", "60"}}));
  CHECK_THROWS_WITH(dist::init_from_env(), Catch::Contains("RADIOSSL_DIST_BACKEND=" + backend) &&
                                               Catch::Contains("launched as rank 1 of 2 by torchrun"));
  CHECK_FALSE(dist::is_initialized());
}

#ifdef RADIOSSL_HAVE_C10D
TEST_CASE("dist: the store falls back from libuv's only where LibTorch offers the choice", "[dist]") {
  // LibTorch 2.x's TCPStoreOptions has useLibUV (on by default); 1.13's has none.
  struct WithChoice {
    bool useLibUV = true;
  } with;
  CHECK(dist::detail::without_libuv(with));
  CHECK_FALSE(with.useLibUV);
  CHECK_FALSE(dist::detail::without_libuv(with));  // already classic: no second retry
  struct NoChoice {
  } without;
  CHECK_FALSE(dist::detail::without_libuv(without));
  c10d::TCPStoreOptions torch_options;  // this LibTorch's: libuv's store is the default from 2.4, absent in 1.x
  const bool libuv_default = TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4);
  if (TORCH_VERSION_MAJOR < 2 || libuv_default) CHECK(dist::detail::without_libuv(torch_options) == libuv_default);
}
#endif

#ifdef RADIOSSL_HAVE_NCCL
TEST_CASE("dist: an NCCL group of one rank on this GPU", "[dist][gpu]") {
  if (!torch::cuda::is_available()) {
    WARN("no CUDA device: the NCCL group was built but not run");
    return;
  }
  dist::LaunchEnv env;
  env.master_port = static_cast<std::uint16_t>(free_port());
  env.timeout_s = 60;
  auto comm = dist::make_nccl_communicator(env);
  REQUIRE(comm->backend() == dist::Backend::nccl);
  const torch::Tensor x = torch::arange(6, torch::TensorOptions(torch::kCUDA).dtype(torch::kFloat)).reshape({2, 3});
  CHECK(torch::equal(comm->all_gather(x), x));
  torch::Tensor s = x.clone();
  comm->all_reduce_sum_(s);
  CHECK(torch::equal(s, x));
  torch::Tensor b = x.clone();
  comm->broadcast_(b, 0);
  CHECK(torch::equal(b, x));
  comm->barrier();
  torch::Tensor cpu = torch::ones({3});
  CHECK_THROWS_WITH(comm->all_reduce_sum_(cpu), Catch::Contains("CUDA tensors only"));
  // Installed, as dist::init does for several ranks: the gather with gradient keeps the graph.
  radiossl::detail::communicator() = comm;
  torch::Tensor y = x.clone().requires_grad_(true);
  (radiossl::detail::all_gather_with_grad(y) * 2).sum().backward();
  dist::shutdown();
  CHECK(torch::equal(y.grad(), torch::full_like(x, 2)));
}
#endif

TEST_CASE("dist: the loader gives each rank a disjoint slice of the same global batches", "[dist]") {
  auto loader_for = [](std::int64_t world, std::int64_t rank, std::int64_t batch) {
    data::LoaderOptions o;
    o.batch_size = batch;
    o.num_workers = 0;
    o.seed = 9;
    o.world_size = world;
    o.rank = rank;
    return std::make_unique<data::Loader<data::MemorySource, augment::RadioSymmetric>>(
        data::MemorySource(random_images(29, 8)), small_augment(), o);
  };
  auto one = loader_for(1, 0, 6);
  auto r0 = loader_for(2, 0, 3);
  auto r1 = loader_for(2, 1, 3);
  CHECK(one->batches_per_epoch() == 4);
  CHECK(r0->batches_per_epoch() == 4);
  for (std::int64_t epoch : {0, 1}) {
    const auto p = one->epoch_plan(epoch), a = r0->epoch_plan(epoch), b = r1->epoch_plan(epoch);
    REQUIRE(a.size() == p.size());
    REQUIRE(b.size() == p.size());
    std::set<std::int64_t> seen;
    for (std::size_t k = 0; k < p.size(); ++k) {
      std::vector<std::int64_t> joined = a[k];
      joined.insert(joined.end(), b[k].begin(), b[k].end());
      CHECK(joined == p[k]);  // rank 0's slice then rank 1's: one process's batch
      seen.insert(joined.begin(), joined.end());
    }
    CHECK(seen.size() == 24);  // disjoint: no sample twice in an epoch
  }
  CHECK(one->epoch_plan(0) != one->epoch_plan(1));  // reshuffled each epoch
  data::LoaderOptions bad;
  bad.world_size = 2;
  bad.rank = 2;
  CHECK_THROWS_WITH((data::Loader<data::MemorySource, augment::RadioSymmetric>(data::MemorySource(random_images(4, 8)),
                                                                              small_augment(), bad)),
                    Catch::Contains("rank 2 is outside"));
  bad.rank = 1;
  bad.drop_last = false;
  CHECK_THROWS_WITH((data::Loader<data::MemorySource, augment::RadioSymmetric>(data::MemorySource(random_images(4, 8)),
                                                                              small_augment(), bad)),
                    Catch::Contains("drop_last"));
}

// The body of each rank of the jobs below (hidden: runs only when a test launches it).
TEST_CASE("dist: worker rank (launched by the [dist] tests)", "[.dist_worker]") {
  const char* mode_c = std::getenv("RADIOSSL_TEST_DIST_MODE");
  const char* out_c = std::getenv("RADIOSSL_TEST_DIST_OUT");
  if (mode_c == nullptr || out_c == nullptr) return;
  const std::string mode = mode_c;
  const fs::path out = out_c;
  const std::int64_t rank = dist::launch_from_env().rank;
  const fs::path status = out / ("rank" + std::to_string(rank) + ".status");
  try {
    dist::init_from_env();
    if (mode == "train") {
      std::string err = check_collectives() + check_method_collectives();
      struct sigaction pipe {};
      ::sigaction(SIGPIPE, nullptr, &pipe);
      if (pipe.sa_handler != SIG_IGN) err += "SIGPIPE is not ignored: a dead peer would end this rank silently; ";
      DistTrainer trainer(worker_options(out / ("run" + std::to_string(rank))), small_simclr(), optim::LarsOptions(),
                          small_augment());
      data::LoaderOptions lo;
      lo.num_workers = 0;
      trainer.fit(data::MemorySource(random_images(48, 40)), lo);
      torch::save(flat_state(trainer), (out / ("rank" + std::to_string(rank) + ".pt")).string());
      write_text(status, err.empty() ? "ok step " + std::to_string(trainer.global_step()) : err);
    } else if (mode == "badfile") {
      DistTrainer trainer(worker_options(out / ("run" + std::to_string(rank))), small_simclr(), optim::LarsOptions(),
                          small_augment());
      data::LoaderOptions lo;
      lo.num_workers = 0;
      lo.on_bad_file = [](const std::string&, const std::string&) {};
      data::Loader<WithBadFiles, augment::RadioSymmetric> loader(WithBadFiles{}, trainer.augment(),
                                                                trainer.loader_options(lo));
      trainer.fit(loader);
      torch::save(flat_state(trainer), (out / ("rank" + std::to_string(rank) + ".pt")).string());
      write_text(status, "ok step " + std::to_string(trainer.global_step()) + " stand-ins " +
                             std::to_string(loader.stats().stand_ins));
    } else if (mode == "syncbn") {
      const std::string err = check_sync_batch_norm(torch::kDouble, 1e-10) + check_sync_batch_norm(torch::kFloat, 1e-5);
      // sync_batch_norm unset: on by default under several processes.
      auto o = worker_options(out / ("run" + std::to_string(rank))).progress(false).csv_log(false);
      SyncTrainer trainer(o, small_simclr(), optim::LarsOptions(), small_augment());
      const auto [synced, not_synced] = synced_and_not(*trainer.backbone().ptr());
      if (synced == 0 || not_synced != 0)
        write_text(status, "default sync_batch_norm: " + std::to_string(synced) + " layers synchronised, " +
                               std::to_string(not_synced) + " not");
      data::LoaderOptions lo;
      lo.num_workers = 0;
      trainer.fit(data::MemorySource(random_images(48, 40)), lo);
      std::vector<torch::Tensor> parts;
      for (auto& p : trainer.backbone()->parameters()) parts.push_back(p.detach().reshape(-1));
      for (auto& p : trainer.method()->parameters()) parts.push_back(p.detach().reshape(-1));
      torch::save(torch::cat(parts), (out / ("rank" + std::to_string(rank) + ".pt")).string());
      if (synced > 0 && not_synced == 0) write_text(status, err.empty() ? "ok" : err);
    } else if (mode.rfind("swav_", 0) == 0) {
      // swav_straight: 5 steps; swav_first: 2 steps and a checkpoint; swav_resume: from it to 5.
      const bool split = mode != "swav_straight";
      auto o = worker_options(out / (split ? "split" : "straight")).stop_after_steps(mode == "swav_first" ? 2 : 5);
      if (mode == "swav_resume") o.resume_from((out / "split" / "last.ckpt").string());
      SwAVTrainer trainer(o, small_swav(), optim::LarsOptions(), small_augment());
      data::LoaderOptions lo;
      lo.num_workers = 0;
      trainer.fit(data::MemorySource(random_images(48, 40)), lo);
      const auto tag = mode + "_rank" + std::to_string(rank);
      torch::save(flat_state(trainer), (out / (tag + ".pt")).string());
      torch::save(trainer.method()->queue.clone(), (out / (tag + "_queue.pt")).string());
      write_text(status, "ok step " + std::to_string(trainer.global_step()));
    } else {  // "kill" / "stop": rank 1 dies or freezes after one step, rank 0 goes on
      DistTrainer trainer(worker_options(out / "unused"), small_simclr(), optim::LarsOptions(), small_augment());
      const Views views{torch::rand({4, 3, 32, 32}), torch::rand({4, 3, 32, 32})};
      for (int step = 0; step < 10000; ++step) {
        if (rank == 1 && step == 1) std::raise(mode == "kill" ? SIGKILL : SIGSTOP);
        trainer.train_step(views);
      }
      write_text(status, "no error");
    }
  } catch (const std::exception& e) {
    write_text(status, std::string("error: ") + e.what());
  }
  dist::shutdown();
}

TEST_CASE("dist: two ranks on loopback Gloo train identical replicas and only rank 0 writes", "[dist]") {
  if (!radiossl::test::gloo_or_warn(dist::gloo_built)) return;
  const fs::path dir = fresh_dir("train");
  auto ranks = launch("train", dir, 2, 20.0);
  wait_all(ranks, 60.0);
  INFO("rank 0 log:\n" << slurp(dir / "rank0.log") << "\nrank 1 log:\n" << slurp(dir / "rank1.log"));
  REQUIRE(exited_ok(ranks[0]));
  REQUIRE(exited_ok(ranks[1]));
  CHECK(slurp(dir / "rank0.status") == "ok step 3");
  CHECK(slurp(dir / "rank1.status") == "ok step 3");
  torch::Tensor a, b;
  torch::load(a, (dir / "rank0.pt").string());
  torch::load(b, (dir / "rank1.pt").string());
  CHECK(torch::equal(a, b));  // bit-identical replicas after 3 steps on different data

  // Only rank 0 wrote its checkpoint and log.
  CHECK(fs::exists(dir / "run0" / "last.ckpt"));
  CHECK(fs::exists(dir / "run0" / "train_log.csv"));
  CHECK_FALSE(fs::exists(dir / "run1"));

  // A one-process run resumes the 2-rank checkpoint: same parameters, and with half the global
  // batch the 3 finished steps of 8 samples become 6 steps of 4.
  {
    DistTrainer one(worker_options(dir / "resumed"), small_simclr(), optim::LarsOptions(), small_augment());
    one.load_checkpoint(dir / "run0" / "last.ckpt");
    CHECK(torch::equal(flat_state(one), a));
  }
  {
    auto o = worker_options(dir / "resumed").resume_from((dir / "run0" / "last.ckpt").string()).stop_after_steps(7);
    DistTrainer one(o, small_simclr(), optim::LarsOptions(), small_augment());
    data::LoaderOptions lo;
    lo.num_workers = 0;
    one.fit(data::MemorySource(random_images(48, 40)), lo);
    CHECK(one.global_step() == 7);
  }
  fs::remove_all(dir);
}

TEST_CASE("dist: a 2-rank SwAV run resumed from its checkpoint equals the uninterrupted one, each rank's queue its own",
          "[dist]") {
  if (!radiossl::test::gloo_or_warn(dist::gloo_built)) return;
  const fs::path dir = fresh_dir("swav");
  auto run = [&](const std::string& mode, const std::string& steps) {
    auto ranks = launch(mode, dir, 2, 30.0);
    wait_all(ranks, 90.0);
    INFO(mode << " rank 0 log:\n" << slurp(dir / "rank0.log") << "\nrank 1 log:\n" << slurp(dir / "rank1.log"));
    REQUIRE(exited_ok(ranks[0]));
    REQUIRE(exited_ok(ranks[1]));
    CHECK(slurp(dir / "rank0.status") == "ok step " + steps);
    CHECK(slurp(dir / "rank1.status") == "ok step " + steps);
  };
  run("swav_straight", "5");
  run("swav_first", "2");
  run("swav_resume", "5");
  auto load = [&](const std::string& name) {
    torch::Tensor t;
    torch::load(t, (dir / (name + ".pt")).string());
    return t;
  };
  // The two ranks fill their queues from different samples: they must not resume with rank 0's.
  CHECK_FALSE(torch::equal(load("swav_straight_rank0_queue"), load("swav_straight_rank1_queue")));
  for (const std::string r : {"0", "1"}) {
    INFO("rank " << r);
    CHECK(torch::equal(load("swav_resume_rank" + r + "_queue"), load("swav_straight_rank" + r + "_queue")));
    CHECK(torch::equal(load("swav_resume_rank" + r), load("swav_straight_rank" + r)));
  }

  // One process resumes the 2-rank checkpoint (step 5) with both ranks' rows: 8 + 8 = its whole
  // queue of 16.
  SwAVTrainer one(worker_options(dir / "one"), small_swav(), optim::LarsOptions(), small_augment());
  one.load_checkpoint(dir / "split" / "last.ckpt");
  const torch::Tensor q = one.method()->queue;
  REQUIRE(q.size(1) == 16);
  CHECK(torch::equal(q.narrow(1, 0, 8), load("swav_resume_rank0_queue")));
  CHECK(torch::equal(q.narrow(1, 8, 8), load("swav_resume_rank1_queue")));
  fs::remove_all(dir);
}

TEST_CASE("dist: with unreadable files two ranks keep equal batches and identical replicas", "[dist]") {
  if (!radiossl::test::gloo_or_warn(dist::gloo_built)) return;
  const fs::path dir = fresh_dir("badfile");
  auto ranks = launch("badfile", dir, 2, 20.0);
  wait_all(ranks, 60.0);
  INFO("rank 0 log:\n" << slurp(dir / "rank0.log") << "\nrank 1 log:\n" << slurp(dir / "rank1.log"));
  REQUIRE(exited_ok(ranks[0]));
  REQUIRE(exited_ok(ranks[1]));
  std::int64_t stand_ins = 0;
  for (const char* r : {"rank0.status", "rank1.status"}) {
    const std::string st = slurp(dir / r);
    INFO(r << ": " << st);
    REQUIRE(st.rfind("ok step 3 stand-ins ", 0) == 0);  // SimCLR's gathers need equal batches
    stand_ins += std::stoll(st.substr(std::string("ok step 3 stand-ins ").size()));
  }
  CHECK(stand_ins > 0);  // the bad files were met
  torch::Tensor a, b;
  torch::load(a, (dir / "rank0.pt").string());
  torch::load(b, (dir / "rank1.pt").string());
  CHECK(torch::equal(a, b));
  fs::remove_all(dir);
}

TEST_CASE("dist: a killed rank ends the other with a clear error, not a hang", "[dist]") {
  if (!radiossl::test::gloo_or_warn(dist::gloo_built)) return;
  const fs::path dir = fresh_dir("kill");
  auto ranks = launch("kill", dir, 2, 10.0);
  wait_all(ranks, 40.0);
  INFO("rank 0 log:\n" << slurp(dir / "rank0.log"));
  CHECK(WIFSIGNALED(ranks[1].status));
  REQUIRE(exited_ok(ranks[0]));
  const std::string s = slurp(dir / "rank0.status");
  CHECK_THAT(s, Catch::StartsWith("error: radiossl::dist: ") && Catch::Contains("failed on rank 0 of 2"));
  CHECK(ranks[0].seconds < 25.0);
  fs::remove_all(dir);
}

TEST_CASE("dist: a frozen rank makes the other fail after RADIOSSL_DIST_TIMEOUT", "[dist]") {
  if (!radiossl::test::gloo_or_warn(dist::gloo_built)) return;
  const fs::path dir = fresh_dir("stop");
  auto ranks = launch("stop", dir, 2, 5.0);
  wait_all(ranks, 30.0, /*until_rank0=*/true);  // rank 1 stays stopped until killed
  INFO("rank 0 log:\n" << slurp(dir / "rank0.log"));
  REQUIRE(exited_ok(ranks[0]));
  const std::string s = slurp(dir / "rank0.status");
  CHECK_THAT(s, Catch::StartsWith("error: radiossl::dist: ") && Catch::Contains("within 5 s"));
  CHECK(ranks[0].seconds < 20.0);
  fs::remove_all(dir);
}

TEST_CASE("dist: synchronised BatchNorm on 2 ranks equals BatchNorm on the global batch of 1 process", "[dist]") {
  if (!radiossl::test::gloo_or_warn(dist::gloo_built)) return;
  const fs::path dir = fresh_dir("syncbn");
  auto ranks = launch("syncbn", dir, 2, 20.0);
  wait_all(ranks, 60.0);
  INFO("rank 0 log:\n" << slurp(dir / "rank0.log") << "\nrank 1 log:\n" << slurp(dir / "rank1.log"));
  REQUIRE(exited_ok(ranks[0]));
  REQUIRE(exited_ok(ranks[1]));
  CHECK(slurp(dir / "rank0.status") == "ok");  // layer: forward, backward, running stats
  CHECK(slurp(dir / "rank1.status") == "ok");
  torch::Tensor a, b;
  torch::load(a, (dir / "rank0.pt").string());
  torch::load(b, (dir / "rank1.pt").string());
  CHECK(torch::equal(a, b));

  // One process, batch 8 = the 2 ranks' global batch, same data and seeds: same parameters after
  // 3 steps. Without synchronisation the 2-rank run would differ (each rank's own statistics).
  auto o = worker_options(dir / "one").batch_size(8).sync_batch_norm(true).csv_log(false);
  SyncTrainer one(o, small_simclr(), optim::LarsOptions(), small_augment());
  data::LoaderOptions lo;
  lo.num_workers = 0;
  one.fit(data::MemorySource(random_images(48, 40)), lo);
  std::vector<torch::Tensor> parts;
  for (auto& p : one.backbone()->parameters()) parts.push_back(p.detach().reshape(-1));
  for (auto& p : one.method()->parameters()) parts.push_back(p.detach().reshape(-1));
  const torch::Tensor c = torch::cat(parts);
  REQUIRE(c.sizes() == a.sizes());
  const double diff = (c - a).abs().max().item<double>();
  INFO("max |2 ranks - 1 process| = " << diff);
  CHECK(diff < 1e-5);
  fs::remove_all(dir);
}

TEST_CASE("dist: sync_batch_norm switches every BatchNorm of ResNet-18", "[dist]") {
  // Unset, one process: nothing synchronises.
  DistTrainer alone(worker_options(fs::temp_directory_path() / "radiossl_dist_unused"), small_simclr(),
                    optim::LarsOptions(), small_augment());
  CHECK(synced_and_not(*alone.backbone().ptr()) == std::pair<int, int>{0, 20});
  const auto o = worker_options(fs::temp_directory_path() / "radiossl_dist_unused").sync_batch_norm(true);
  DistTrainer trainer(o, small_simclr(), optim::LarsOptions(), small_augment());
  std::int64_t plain = 0;
  // bn1, two per basic block (8 blocks) and the three projection shortcuts.
  CHECK(dist::set_sync_batch_norm(*trainer.backbone().ptr(), true, &plain) == 20);
  CHECK(plain == 0);
}
