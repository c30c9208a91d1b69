/// @file
/// `Trainer<Backbone, Method, Augment, Optimizer>`: self-supervised pretraining composed at compile time.
#pragma once

#include <type_traits>

#include "radiossl/concepts/augment.hpp"
#include "radiossl/concepts/backbone.hpp"
#include "radiossl/concepts/compatible.hpp"
#include "radiossl/concepts/method.hpp"
#include "radiossl/concepts/optimizer.hpp"
#include "radiossl/trainer_impl.hpp"

namespace radiossl {

/// Whether `Trainer<B, M, A, O>` can be built: every policy models its concept and they fit together.
template <class B, class M, class A, class O>
inline constexpr bool trainer_policies_valid =
    Backbone<B> && Method<M, B> && Augment<A> && Optimizer<O> && Compatible<B, M, A>;

namespace detail {

/// What a Trainer with a wrong policy derives from: accepts any constructor and call, so that the
/// one `static_assert` naming the wrong policy is the only error (the trick of Boost.Hana's
/// `detail/dispatch_if.hpp`).
struct InertTrainer {
  template <class... Args>
  explicit InertTrainer(Args&&...) {}
  template <class... Args>
  void fit(Args&&...) {}
  template <class... Args>
  double train_step(Args&&...) { return 0.0; }
  template <class... Args>
  void save_checkpoint(Args&&...) {}
  template <class... Args>
  void load_checkpoint(Args&&...) {}
};

#ifdef RADIOSSL_DISABLE_POLICY_CHECKS
template <class B, class M, class A, class O>
using TrainerBase = TrainerImpl<B, M, A, O>;
#else
template <class B, class M, class A, class O>
using TrainerBase = std::conditional_t<trainer_policies_valid<B, M, A, O>, TrainerImpl<B, M, A, O>, InertTrainer>;
#endif

}  // namespace detail

/// Self-supervised pretraining of a backbone with a method, as solo-learn's `main_pretrain.py`.
///
/// @tparam B the network (concepts/backbone.hpp), e.g. `backbone::ResNet18`
/// @tparam M the self-supervised method (concepts/method.hpp), e.g. `method::SimCLR`
/// @tparam A the augmentation that makes the views (concepts/augment.hpp), e.g. `augment::RadioSymmetric`
/// @tparam O the optimizer (concepts/optimizer.hpp), e.g. `optim::LARS`
///
/// Per step: zero the gradients (to none), move the views to the device (channels_last on CUDA
/// and for ResNet-50 on CPU), `method->training_step(backbone, views)` under bf16 autocast on
/// CUDA, stop on a NaN/Inf loss, backward, optimizer step with the scheduled lr, then the
/// method's optional hooks. Checkpoints (`<out_dir>/last.ckpt`) hold everything a resumed run
/// needs, and a resumed run ends with the same parameters as an uninterrupted one (on CPU).
/// Example: examples/pretrain.cpp.
///
/// Data parallel: launched as several processes (`torchrun --no-python --nproc-per-node N prog`,
/// srun, mpirun; see dist/launch.hpp), each process joins a c10d process group (Gloo, or NCCL on
/// CUDA) when the Trainer is built (dist/process_group.hpp), trains a replica on its shard of
/// every epoch (the loader gives each rank a disjoint slice of each global batch of
/// N x batch_size), starts from rank 0's state, averages gradients over ranks after backward and
/// takes rank 0's BatchNorm running statistics after each step, so the replicas stay identical.
/// Only rank 0 writes checkpoints, the CSV log and progress; a checkpoint resumes under any number
/// of processes. With `sync_batch_norm` (on by default under several processes, as in solo-learn),
/// dist::SyncBatchNorm layers use the statistics of the global batch.
/// One process needs no setup and runs exactly as before.
///
/// The policies are checked at the front door, one `static_assert` per policy with a message
/// naming what is missing; define `RADIOSSL_DISABLE_POLICY_CHECKS` to see the compiler's own errors.
template <class B, class M, class A, class O>
class Trainer : public detail::TrainerBase<B, M, A, O> {
#ifndef RADIOSSL_DISABLE_POLICY_CHECKS
  static_assert(Backbone<B>,
                "radiossl::Trainer<Backbone, Method, Augment, Optimizer>: Backbone must be a TORCH_MODULE holder "
                "whose Impl derives from torch::nn::Module, with `Tensor forward(Tensor)` and "
                "`int64_t feature_dim() const`; see include/radiossl/concepts/backbone.hpp");
  static_assert(!Backbone<B> || Method<M, B>,
                "radiossl::Trainer<Backbone, Method, Augment, Optimizer>: Method must provide a TORCH_MODULE "
                "holder with Impl::Options, `static constexpr name`, `static constexpr int min_large_crops`, "
                "a constructor (int64_t feature_dim, Options) and `StepOutput training_step(Backbone&, const "
                "Views&)`; see include/radiossl/concepts/method.hpp");
  static_assert(Augment<A>,
                "radiossl::Trainer<Backbone, Method, Augment, Optimizer>: Augment must provide `static "
                "constexpr int num_large_crops`, `static constexpr int num_small_crops` and "
                "`std::vector<Image> views(const Image&, Rng&) const`; see include/radiossl/concepts/augment.hpp");
  static_assert(Optimizer<O>,
                "radiossl::Trainer<Backbone, Method, Augment, Optimizer>: Optimizer must provide `Options`, a "
                "constructor (std::vector<OptimizerParamGroup>, Options), zero_grad(), step(), set_lr(double) "
                "and optimizer(); see include/radiossl/concepts/optimizer.hpp");
  static_assert(!(Backbone<B> && Method<M, B> && Augment<A>) || CropsFit<M, A>,
                "radiossl::Trainer: Method needs more crops than Augment produces (Method::Impl::min_large_crops "
                "> Augment::num_large_crops, e.g. a multi-crop method with a two-crop augmentation: use "
                "augment::RadioMultiCrop); see include/radiossl/concepts/compatible.hpp");
  static_assert(!(Backbone<B> && Method<M, B>) || TeacherFits<M, B>,
                "radiossl::Trainer: Method keeps an EMA teacher (has_teacher) and needs a Backbone it can clone "
                "(Impl derived from torch::nn::Cloneable<Impl>); see include/radiossl/concepts/compatible.hpp");
#endif

 public:
  using Base = detail::TrainerBase<B, M, A, O>;
  using Base::Base;
};

}  // namespace radiossl
