/// @file
/// Tests of the Trainer: learning, checkpoints (atomic, resumable to identical parameters), NaN
/// stop, hooks, CSV log and progress output. Uses the tiny archetypes of tests/support.
#include "support/catch.hpp"

#include <sys/resource.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

#include "radiossl/backbone/resnet.hpp"
#include "radiossl/callbacks/csv_log.hpp"
#include "radiossl/callbacks/progress.hpp"
#include "radiossl/method/byol.hpp"
#include "radiossl/method/simclr.hpp"
#include "radiossl/method/wmse.hpp"
#include "radiossl/optim/adamw.hpp"
#include "radiossl/optim/lars.hpp"
#include "radiossl/optim/sgd.hpp"
#include "radiossl/trainer.hpp"
#include "support/archetypes.hpp"

using namespace radiossl;
namespace fs = std::filesystem;
using archetypes::IdentityAugment;
using archetypes::TinyBackbone;
using archetypes::TinyMethod;

namespace {

/// A deterministic in-memory loader: `n` fixed 1x8x8 images, shuffled per epoch from (seed, epoch)
/// with the standard library only (no torch RNG), two views per sample (the image and its mirror).
struct ToyLoader {
  struct Batch {
    Views views;
  };
  ToyLoader(std::int64_t n, std::int64_t batch, std::uint64_t seed = 7) : batch_(batch), seed_(seed) {
    auto g = at::detail::createCPUGenerator(1234);
    data_ = torch::randn({n, 1, 8, 8}, g);
    set_epoch(0);
  }
  void set_epoch(std::int64_t e) {
    std::vector<std::int64_t> order(static_cast<std::size_t>(data_.size(0)));
    std::iota(order.begin(), order.end(), 0);
    std::mt19937_64 rng(seed_ * 1000003 + static_cast<std::uint64_t>(e));
    std::shuffle(order.begin(), order.end(), rng);
    batches_.clear();
    for (std::int64_t b = 0; b < num_batches(); ++b) {
      auto idx = torch::tensor(std::vector<std::int64_t>(order.begin() + b * batch_, order.begin() + (b + 1) * batch_));
      auto x = data_.index_select(0, idx);
      batches_.push_back({{x, x.flip({3})}});
    }
  }
  [[nodiscard]] std::int64_t num_batches() const { return data_.size(0) / batch_; }
  [[nodiscard]] std::uint64_t seed() const { return seed_; }
  auto begin() { return batches_.begin(); }
  auto end() { return batches_.end(); }

  std::int64_t batch_;
  std::uint64_t seed_;
  torch::Tensor data_;
  std::vector<Batch> batches_;
};

fs::path fresh_dir(const std::string& name) {
  auto d = fs::temp_directory_path() / ("radiossl_trainer_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

TrainerOptions toy_options(const fs::path& out) {
  return TrainerOptions()
      .epochs(2)
      .batch_size(4)
      .lr(0.5)
      .scale_lr_by_batch(false)
      .warmup_epochs(0.5)
      .weight_decay(1e-4)
      .seed(11)
      .device(torch::Device(torch::kCPU))
      .out_dir(out.string())
      .progress(false);
}

std::vector<torch::Tensor> state_of(torch::nn::Module& a, torch::nn::Module& b) {
  std::vector<torch::Tensor> out;
  for (auto* m : {&a, &b}) {
    for (auto& p : m->parameters()) out.push_back(p.detach().clone());
    for (auto& x : m->buffers()) out.push_back(x.detach().clone());
  }
  return out;
}

std::vector<std::string> read_lines(const fs::path& p) {
  std::ifstream in(p);
  std::vector<std::string> lines;
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  return lines;
}

std::string read_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

}  // namespace

TEST_CASE("Trainer: the loss decreases on a toy task and hooks are called", "[trainer]") {
  const auto out = fresh_dir("learn");
  Trainer<TinyBackbone, TinyMethod, IdentityAugment, optim::SGD> trainer(
      toy_options(out).epochs(6).schedule(LrSchedule::constant).lr(0.1),
      archetypes::TinyMethodOptions().noise(0.0));
  ToyLoader loader(16, 4);
  trainer.fit(loader);

  const auto rows = read_lines(out / "train_log.csv");
  REQUIRE(rows.size() == 1 + 24);
  CHECK(rows[0] == "step,epoch,loss,lr,images_per_s,z_std");
  auto loss_at = [&](std::size_t i) {
    std::stringstream ss(rows[i]);
    std::string cell;
    for (int c = 0; c < 3; ++c) std::getline(ss, cell, ',');
    return std::stod(cell);
  };
  double first = 0, last = 0;
  for (std::size_t i = 1; i <= 4; ++i) first += loss_at(i);
  for (std::size_t i = 21; i <= 24; ++i) last += loss_at(i);
  CHECK(last < 0.5 * first);

  auto& m = *trainer.method();
  CHECK(m.train_starts == 1);
  REQUIRE(m.progresses.size() == 24);
  CHECK(m.progresses.front() == Approx(1.0 / 24));
  CHECK(m.progresses.back() == Approx(1.0));
  CHECK(m.after_backward_with_grads == std::vector<bool>(24, true));
  CHECK(m.epochs_seen == std::vector<std::int64_t>{0, 1, 2, 3, 4, 5});
  CHECK(trainer.global_step() == 24);
  CHECK(fs::exists(out / "last.ckpt"));
  fs::remove_all(out);
}

TEST_CASE("Trainer: on a CPU the layout follows the backbone unless set", "[trainer]") {
  namespace bb = radiossl::backbone;
  const auto out = fresh_dir("layout");
  auto layout_of = [&]<class B>(B backbone, std::optional<bool> channels_last) {
    radiossl::method::SimCLR simclr(backbone->feature_dim());
    Trainer<B, radiossl::method::SimCLR, IdentityAugment, optim::SGD> trainer(
        std::move(backbone), std::move(simclr), toy_options(out).channels_last(channels_last));
    torch::Tensor conv;  // the first convolution's weight
    for (auto& p : trainer.backbone()->parameters())
      if (p.dim() == 4) {
        conv = p;
        break;
      }
    REQUIRE(conv.defined());
    CHECK(!conv.is_contiguous() == trainer.channels_last());
    CHECK_FALSE(trainer.bf16_autocast());  // CUDA only
    // ResNet reads one plane as the replicated radio channel, so its loader sends one plane;
    // a backbone that does not say so gets the replicated planes.
    const std::int64_t planes = std::is_same_v<B, TinyBackbone> ? 3 : 1;
    CHECK(trainer.loader_options().channels == planes);
    data::LoaderOptions mixed;
    mixed.preprocess.channel_mode = data::ChannelMode::mixed;
    CHECK(trainer.loader_options(mixed).channels == 3);
    return trainer.channels_last();
  };
  const auto narrow = bb::ResNetOptions().width(4);
  CHECK(layout_of(bb::ResNet50(narrow), std::nullopt));
  CHECK_FALSE(layout_of(bb::ResNet18(narrow), std::nullopt));
  CHECK_FALSE(layout_of(bb::ResNet50(narrow), false));
  CHECK(layout_of(bb::ResNet18(narrow), true));
  CHECK_FALSE(layout_of(TinyBackbone(), std::nullopt));
  fs::remove_all(out);
}

TEST_CASE("Trainer: builds its backbone from backbone options, seeded as the default backbone", "[trainer]") {
  namespace bb = radiossl::backbone;
  using T = Trainer<bb::ResNet18, radiossl::method::SimCLR, IdentityAugment, optim::SGD>;
  const auto out = fresh_dir("backbone_options");
  const auto options = toy_options(out).seed(3);
  T cifar(options, bb::ResNetOptions().width(4).cifar_stem(true));
  CHECK(cifar.backbone()->options().cifar_stem());
  CHECK(cifar.backbone()->conv1->weight.sizes() == torch::IntArrayRef({4, 3, 3, 3}));
  torch::manual_seed(3);
  bb::ResNet18 expected(bb::ResNetOptions().width(4).cifar_stem(true));
  const auto got = cifar.backbone()->named_parameters();
  for (const auto& p : expected->named_parameters()) CHECK(torch::equal(got[p.key()], p.value()));
  // Default options give the default constructor's backbone, parameter for parameter.
  T by_options(options, bb::ResNetOptions());
  T by_default(options);
  const auto defaults = by_default.backbone()->named_parameters();
  CHECK(by_options.backbone()->conv1->weight.size(2) == 7);
  for (const auto& p : by_options.backbone()->named_parameters()) CHECK(torch::equal(defaults[p.key()], p.value()));
  fs::remove_all(out);
}

TEST_CASE("Trainer: on a CPU, ResNet's 3x3 convolutions run by Winograd where available, teachers too", "[trainer]") {
  namespace bb = radiossl::backbone;
  using T = Trainer<bb::ResNet18, radiossl::method::BYOL, IdentityAugment, optim::SGD>;
  const auto out = fresh_dir("winograd");
  const auto narrow = bb::ResNetOptions().width(4);
  auto switched_on = [](torch::nn::Module& module) {
    std::int64_t n = 0;
    for (const auto& m : module.modules())
      if (auto* s = dynamic_cast<bb::WinogradSwitch*>(m.get())) n += s->winograd() ? 1 : 0;
    return n;
  };
  const bool available = bb::winograd_available();
  const std::int64_t blocks = available ? 8 : 0;
  T by_default(toy_options(out), narrow);
  CHECK(by_default.winograd() == available);
  CHECK(switched_on(*by_default.backbone()) == blocks);
  by_default.method()->on_train_start(by_default.backbone());  // BYOL clones its EMA teacher here
  CHECK(switched_on(*by_default.method()) == blocks);
  T off(toy_options(out).winograd(false), narrow);
  CHECK_FALSE(off.winograd());
  CHECK(switched_on(*off.backbone()) == 0);
  if (available)
    CHECK(T(toy_options(out).winograd(true), narrow).winograd());
  else
    CHECK_THROWS_WITH(T(toy_options(out).winograd(true), narrow), Catch::Contains("libdnnl-dev"));
  fs::remove_all(out);
}

TEST_CASE("Trainer: on a CPU, freed memory is reused without new page faults", "[trainer]") {
  const auto out = fresh_dir("keep_freed");
  Trainer<TinyBackbone, TinyMethod, IdentityAugment, optim::SGD> trainer(toy_options(out));
  // A 256 MiB block, as a step's activations at 224 px: glibc would mmap it afresh each time
  // (65536 pages faulted in again); kept, the second one faults in none of them.
  constexpr std::size_t bytes = std::size_t{256} << 20, page = 4096;
  auto touch_block = [] {
    auto* p = static_cast<volatile char*>(std::malloc(bytes));
    REQUIRE(p != nullptr);
    for (std::size_t i = 0; i < bytes; i += page) p[i] = 1;
    std::free(const_cast<char*>(p));
  };
  auto minor_faults = [] {
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    return usage.ru_minflt;
  };
  touch_block();
  const long before = minor_faults();
  touch_block();
  CHECK(minor_faults() - before < 2000);
  fs::remove_all(out);
}

TEST_CASE("Trainer: on a CPU, OpenBLAS runs one thread unless OPENBLAS_NUM_THREADS says otherwise", "[trainer]") {
  const auto out = fresh_dir("blas_threads");
  const char* env = std::getenv("OPENBLAS_NUM_THREADS");
  const std::optional<std::string> saved = env != nullptr ? std::optional<std::string>(env) : std::nullopt;
  unsetenv("OPENBLAS_NUM_THREADS");
  // libblas.so.3 is OpenBLAS where tools/setup-debian.sh ran (CI, the development machine).
  const bool openblas = radiossl::detail::set_openblas_threads(2);
  CHECK(openblas == (radiossl::detail::openblas_threads() > 0));
  if (openblas) {
    { Trainer<TinyBackbone, TinyMethod, IdentityAugment, optim::SGD> trainer(toy_options(out)); }
    CHECK(radiossl::detail::openblas_threads() == 1);
  } else {
    WARN("no OpenBLAS loaded: libblas.so.3 is another BLAS, and its threads are left alone");
  }
  setenv("OPENBLAS_NUM_THREADS", "2", 1);
  CHECK_FALSE(radiossl::detail::set_openblas_threads(1));  // the user's choice stands
  if (saved) setenv("OPENBLAS_NUM_THREADS", saved->c_str(), 1);
  else unsetenv("OPENBLAS_NUM_THREADS");
  fs::remove_all(out);
}

TEST_CASE("Trainer: the lr follows warm-up cosine per step, scaled by batch", "[trainer]") {
  const auto out = fresh_dir("lr");
  Trainer<TinyBackbone, TinyMethod, IdentityAugment, optim::LARS> trainer(
      toy_options(out).epochs(2).lr(0.4).scale_lr_by_batch(true).batch_size(512).warmup_epochs(1.0).csv_log(true));
  REQUIRE(trainer.base_lrs().size() == 2);  // backbone and method heads
  CHECK(trainer.base_lrs()[0] == Approx(0.8));
  ToyLoader loader(16, 4);
  trainer.fit(loader);
  const auto rows = read_lines(out / "train_log.csv");
  REQUIRE(rows.size() == 9);
  const optim::WarmupCosine s{.warmup_steps = 4, .total_steps = 8, .start_lr = 3e-5, .min_lr = 0.0};
  for (std::size_t i = 1; i < rows.size(); ++i) {
    std::stringstream ss(rows[i]);
    std::string cell;
    for (int c = 0; c < 4; ++c) std::getline(ss, cell, ',');
    CHECK(std::stod(cell) == Approx(s(static_cast<std::int64_t>(i) - 1, 0.8)));
  }
  fs::remove_all(out);
}

TEMPLATE_TEST_CASE("Trainer: a resumed run ends with parameters identical to an uninterrupted one", "[trainer]",
                   optim::LARS, optim::AdamW, optim::SGD) {
  using T = Trainer<TinyBackbone, TinyMethod, IdentityAugment, TestType>;
  const auto a_dir = fresh_dir("resume_a"), b_dir = fresh_dir("resume_b");
  ToyLoader loader(16, 4);  // 4 batches per epoch, 8 steps

  T straight(toy_options(a_dir));
  straight.fit(loader);
  const auto want = state_of(*straight.backbone(), *straight.method());

  {
    T first(toy_options(b_dir).stop_after_steps(3));  // stops mid-epoch 0
    first.fit(loader);
    CHECK(first.global_step() == 3);
  }
  torch::manual_seed(999);  // disturb the generator: the checkpoint must restore it
  T second(toy_options(b_dir).seed(12345).resume_from((b_dir / "last.ckpt").string()));
  second.fit(loader);
  CHECK(second.global_step() == 8);
  const auto got = state_of(*second.backbone(), *second.method());
  REQUIRE(got.size() == want.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    CAPTURE(i);
    CHECK(torch::equal(got[i], want[i]));
  }
  // The log of the resumed run has each step once.
  const auto rows = read_lines(b_dir / "train_log.csv");
  REQUIRE(rows.size() == 9);
  for (std::size_t i = 1; i < rows.size(); ++i) CHECK(rows[i].rfind(std::to_string(i) + ",", 0) == 0);
  fs::remove_all(a_dir);
  fs::remove_all(b_dir);
}

TEST_CASE("Trainer: on CUDA, W-MSE under bf16 and channels_last resumes with the device's generator restored",
          "[trainer][gpu]") {
  if (!torch::cuda::is_available()) {
    WARN("no CUDA device: the CUDA checkpoint test was built but not run");
    return;
  }
  namespace bb = radiossl::backbone;
  namespace m = radiossl::method;
  using T = Trainer<bb::ResNet18, m::WMSE, IdentityAugment, optim::LARS>;
  // Deterministic cuDNN, so the two runs may differ only by what the checkpoint lost; restored
  // however the test ends.
  auto& context = at::globalContext();
  struct CudnnSettings {
    at::Context& context;
    bool deterministic = context.deterministicCuDNN(), benchmark = context.benchmarkCuDNN();
    ~CudnnSettings() {
      context.setDeterministicCuDNN(deterministic);
      context.setBenchmarkCuDNN(benchmark);
    }
  } restore_cudnn{context};
  context.setDeterministicCuDNN(true);
  context.setBenchmarkCuDNN(false);
  const auto a_dir = fresh_dir("cuda_a"), b_dir = fresh_dir("cuda_b");
  const torch::Device cuda(torch::kCUDA);
  auto options = [&](const fs::path& out) { return toy_options(out).device(cuda).lr(0.05); };
  const auto narrow = bb::ResNetOptions().width(8);
  // Two whitening groups of 8 per batch, so the permutation drawn on the device matters.
  const auto wmse = m::WMSEOptions().whitening_size(8).proj_output_dim(4).proj_hidden_dim(32);
  ToyLoader loader(64, 16);  // 4 batches per epoch, 8 steps

  T straight(options(a_dir), narrow, wmse);
  CHECK(straight.bf16_autocast());
  CHECK(straight.channels_last());
  straight.fit(loader);
  const auto want = state_of(*straight.backbone(), *straight.method());

  torch::Tensor saved_generator;
  {
    T first(options(b_dir).stop_after_steps(3), narrow, wmse);
    first.fit(loader);
    REQUIRE(first.global_step() == 3);
    saved_generator = context.defaultGenerator(cuda).get_state();
  }
  torch::manual_seed(999);  // disturbs the CUDA generator too: the checkpoint must restore it
  T second(options(b_dir).seed(12345).resume_from((b_dir / "last.ckpt").string()), narrow, wmse);
  second.load_checkpoint(b_dir / "last.ckpt");
  CHECK(torch::equal(context.defaultGenerator(cuda).get_state(), saved_generator));
  second.fit(loader);
  CHECK(second.global_step() == 8);
  const auto got = state_of(*second.backbone(), *second.method());
  REQUIRE(got.size() == want.size());
  double worst = 0.0;
  for (std::size_t i = 0; i < got.size(); ++i) {
    REQUIRE(got[i].device().is_cuda());
    if (!got[i].is_floating_point()) {
      CHECK(torch::equal(got[i], want[i]));
      continue;
    }
    const double scale = std::max(want[i].abs().max().item<double>(), 1e-12);
    worst = std::max(worst, (got[i] - want[i]).abs().max().item<double>() / scale);
  }
  WARN("CUDA resume: largest parameter difference from the uninterrupted run, relative to the tensor's largest: "
       << worst);
  CHECK(worst <= 1e-5);
  fs::remove_all(a_dir);
  fs::remove_all(b_dir);
}

TEST_CASE("Trainer: checkpoints are written atomically", "[trainer]") {
  const auto out = fresh_dir("atomic");
  Trainer<TinyBackbone, TinyMethod, IdentityAugment, optim::LARS> trainer(toy_options(out).epochs(1));
  ToyLoader loader(8, 4);
  trainer.fit(loader);
  const auto ckpt = out / "last.ckpt";
  REQUIRE(fs::exists(ckpt));
  for (const auto& e : fs::directory_iterator(out)) CHECK(e.path().extension() != ".tmp");
  const auto before = read_bytes(ckpt);

  // A write that fails (a directory stands where the temporary file goes) keeps the old file.
  fs::create_directories(out / "last.ckpt.tmp" / "blocker");
  CHECK_THROWS_AS(trainer.save_checkpoint(), Error);
  CHECK(read_bytes(ckpt) == before);
  fs::remove_all(out / "last.ckpt.tmp");

  // A resume from a missing file says so.
  Trainer<TinyBackbone, TinyMethod, IdentityAugment, optim::LARS> other(
      toy_options(out).epochs(1).resume_from((out / "missing.ckpt").string()));
  CHECK_THROWS_WITH(other.fit(loader), Catch::Contains("missing.ckpt") && Catch::Contains("does not exist"));
  // A resume with another epoch count is refused (its schedule would differ).
  Trainer<TinyBackbone, TinyMethod, IdentityAugment, optim::LARS> longer(
      toy_options(out).epochs(3).resume_from(ckpt.string()));
  CHECK_THROWS_WITH(longer.fit(loader), Catch::Contains("epochs"));
  fs::remove_all(out);
}

TEST_CASE("Trainer: a NaN loss stops the run naming the step, the last checkpoint stays good", "[trainer]") {
  const auto out = fresh_dir("nan");
  using T = Trainer<TinyBackbone, TinyMethod, IdentityAugment, optim::LARS>;
  T trainer(toy_options(out).checkpoint_every_steps(2), archetypes::TinyMethodOptions().nan_from_call(5));
  ToyLoader loader(16, 4);
  try {
    trainer.fit(loader);
    FAIL("fit should have thrown");
  } catch (const Error& e) {
    const std::string msg = e.what();
    CHECK_THAT(msg, Catch::Contains("NaN") && Catch::Contains("step 5") && Catch::Contains("last.ckpt"));
  }
  const auto ckpt = out / "last.ckpt";
  REQUIRE(fs::exists(ckpt));
  T check(toy_options(out));
  check.load_checkpoint(ckpt);
  CHECK(check.global_step() == 4);
  for (auto& p : check.backbone()->parameters()) CHECK(torch::isfinite(p).all().item<bool>());
  fs::remove_all(out);
}

TEST_CASE("Progress: a bar on a terminal, plain lines otherwise", "[trainer][progress]") {
  std::ostringstream plain;
  callbacks::Progress p(10, 5, plain, 0);
  p.start();
  for (int i = 1; i <= 10; ++i) p.update(i, 0, 1.5, 0.1, 100.0);
  const auto text = plain.str();
  CHECK(std::count(text.begin(), text.end(), '\n') == 2);  // steps 5 and 10
  CHECK_THAT(text, Catch::Contains("step 10/10") && Catch::Contains("ETA") && Catch::Contains("img/s"));
  CHECK(text.find('\r') == std::string::npos);

  std::ostringstream tty;
  callbacks::Progress bar(3, 0, tty, 1);
  bar.start();
  for (int i = 1; i <= 3; ++i) bar.update(i, 0, 1.5, 0.1, 100.0);
  CHECK_THAT(tty.str(), Catch::Contains("\r[") && Catch::Contains("########################]"));
}

TEST_CASE("Progress: the ETA follows the recent rate, so a pause is forgotten", "[trainer][progress]") {
  using namespace std::chrono_literals;
  std::ostringstream out;
  callbacks::Progress p(200, 10, out, 0);
  auto t = callbacks::Progress::clock::time_point{};
  p.start(0, t);
  for (int i = 1; i <= 10; ++i) p.update(i, 0, 1.0, 0.1, 32.0, t += 1s);
  // One step a second: 190 steps left at step 10.
  CHECK_THAT(out.str(), Catch::Contains("step 10/200 (5.0%) epoch 0 loss 1.0000 lr 0.1 32.0 img/s ETA 00:03:10"));
  t += 1000s;  // the run stopped for 1000 s
  for (int i = 11; i <= 100; ++i) p.update(i, 0, 1.0, 0.1, 32.0, t += 1s);
  // The mean since the start (1100 s for 100 steps) would give 1100 s; the last 64 steps give 100.
  CHECK_THAT(out.str(), Catch::Contains("step 100/200 (50.0%) epoch 0 loss 1.0000 lr 0.1 32.0 img/s ETA 00:01:40"));
  // A resumed run counts only what it did itself.
  std::ostringstream resumed;
  callbacks::Progress q(200, 10, resumed, 0);
  q.start(150, t);
  for (int i = 151; i <= 160; ++i) q.update(i, 0, 1.0, 0.1, 32.0, t += 2s);
  CHECK_THAT(resumed.str(), Catch::Contains("step 160/200") && Catch::Contains("ETA 00:01:20"));
}

TEST_CASE("Progress: the rate shown is the window's, not the last step's", "[trainer][progress]") {
  using namespace std::chrono_literals;
  std::ostringstream out;
  callbacks::Progress p(200, 10, out, 0);
  auto t = callbacks::Progress::clock::time_point{};
  p.start(0, t);
  // Steps of 32 images alternate 0.5 s and 1.5 s: 64 and 21.3 img/s, 32 img/s over any two.
  for (int i = 1; i <= 10; ++i) p.update(i, 0, 1.0, 0.1, i % 2 ? 64.0 : 32.0 / 1.5, t += i % 2 ? 500ms : 1500ms);
  CHECK_THAT(out.str(), Catch::Contains("step 10/200 (5.0%) epoch 0 loss 1.0000 lr 0.1 32.0 img/s ETA 00:03:10"));
  // Past the window, only its steps count: 70 steps at 100 img/s replace the slow ones.
  for (int i = 11; i <= 80; ++i) p.update(i, 0, 1.0, 0.1, 100.0, t += 320ms);
  CHECK_THAT(out.str(), Catch::Contains("step 80/200 (40.0%) epoch 0 loss 1.0000 lr 0.1 100.0 img/s ETA 00:00:38"));
}

TEST_CASE("CsvLog: fixed columns, resume keeps earlier rows", "[trainer][csv]") {
  const auto dir = fresh_dir("csv");
  const auto path = dir / "log.csv";
  {
    callbacks::CsvLog log(path);
    log.row(1, 0, 2.0, 0.1, 50.0, {{"b", 1.0}, {"a", 2.0}});
    log.row(2, 0, 1.5, 0.1, 50.0, {{"a", 3.0}});
    log.row(3, 0, 1.0, 0.1, 50.0, {{"a", 3.0}, {"b", 4.0}});
  }
  auto rows = read_lines(path);
  REQUIRE(rows.size() == 4);
  CHECK(rows[0] == "step,epoch,loss,lr,images_per_s,a,b");
  CHECK(rows[2] == "2,0,1.5,0.10000000000000001,50,3,");
  {
    callbacks::CsvLog log(path, 2);
    log.row(3, 0, 0.5, 0.1, 50.0, {{"a", 1.0}, {"b", 1.0}});
  }
  rows = read_lines(path);
  REQUIRE(rows.size() == 4);
  CHECK(rows[3].rfind("3,0,0.5,", 0) == 0);
  fs::remove_all(dir);
}

TEST_CASE("Trainer: an epoch whose every file fails to load stops the run with an error", "[trainer][loader]") {
  struct Unreadable {  // a source whose every sample fails, as a folder of files that are not FITS
    std::int64_t size() const { return 6; }
    Image load(std::int64_t) const { throw Error("not a FITS file"); }
    std::int64_t label(std::int64_t) const { return -1; }
    std::string name(std::int64_t i) const { return "junk_" + std::to_string(i) + ".fits"; }
  };
  data::LoaderOptions lo;
  lo.num_workers = 1;
  lo.channels = 1;
  std::vector<std::string> named;
  lo.on_bad_file = [&](const std::string& name, const std::string&) { named.push_back(name); };
  const auto out = fresh_dir("unreadable");
  Trainer<TinyBackbone, TinyMethod, IdentityAugment, optim::SGD> trainer(toy_options(out));
  CHECK_THROWS_WITH(trainer.fit(Unreadable{}, lo), Catch::Contains("epoch 0 gave no batch of 4") &&
                                                       Catch::Contains("every sample of it failed to load") &&
                                                       Catch::Contains("4 failed loads"));
  CHECK(named.size() == 4);  // the one batch of 4 the epoch plans (drop_last), each file named
  CHECK(trainer.global_step() == 0);
  CHECK_FALSE(fs::exists(out / "last.ckpt"));
  fs::remove_all(out);
}

TEST_CASE("Trainer: epochs and batch_size below 1 are refused by name", "[trainer]") {
  const auto out = fresh_dir("bad_options");
  using T = Trainer<TinyBackbone, TinyMethod, IdentityAugment, optim::SGD>;
  CHECK_THROWS_WITH(T(toy_options(out).epochs(0)), Catch::Contains("epochs must be >= 1, got 0"));
  CHECK_THROWS_WITH(T(toy_options(out).batch_size(-2)), Catch::Contains("batch_size must be >= 1, got -2"));
  fs::remove_all(out);
}

TEST_CASE("Trainer: fit from a data::Source through the threaded loader, resumable", "[trainer][loader]") {
  std::vector<Image> images;
  for (int i = 0; i < 12; ++i) {
    Image im(8, 8);
    for (std::size_t k = 0; k < im.size(); ++k) im.pixels[k] = static_cast<float>((k * (i + 3)) % 17);
    images.push_back(std::move(im));
  }
  data::LoaderOptions lo;
  lo.num_workers = 2;
  lo.channels = 1;
  using T = Trainer<TinyBackbone, TinyMethod, IdentityAugment, optim::LARS>;
  const auto a_dir = fresh_dir("src_a"), b_dir = fresh_dir("src_b");
  T straight(toy_options(a_dir));  // batch 4: 3 batches per epoch, 6 steps
  straight.fit(data::MemorySource(images), lo);
  CHECK(straight.global_step() == 6);
  {
    T first(toy_options(b_dir).stop_after_steps(4));
    first.fit(data::MemorySource(images), lo);
  }
  T second(toy_options(b_dir).resume_from((b_dir / "last.ckpt").string()));
  second.fit(data::MemorySource(images), lo);
  const auto want = state_of(*straight.backbone(), *straight.method());
  const auto got = state_of(*second.backbone(), *second.method());
  REQUIRE(got.size() == want.size());
  for (std::size_t i = 0; i < got.size(); ++i) CHECK(torch::equal(got[i], want[i]));
  fs::remove_all(a_dir);
  fs::remove_all(b_dir);
}
