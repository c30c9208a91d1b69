/// @file
/// All4One (Estepa et al. 2023, arXiv:2308.10399) as solo-learn implements it
/// (solo/methods/all4one.py).
#pragma once

#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "radiossl/concepts/method.hpp"
#include "radiossl/detail/collectives.hpp"
#include "radiossl/detail/normalize.hpp"
#include "radiossl/error.hpp"
#include "radiossl/loss/all4one.hpp"
#include "radiossl/method/heads.hpp"
#include "radiossl/method/momentum.hpp"
#include "radiossl/torch_fwd.hpp"

namespace radiossl::method {

/// All4One's options; defaults are the `paper` preset (section 4.1: lr 1.0, projection 512,
/// predictor hidden 4096, temperature 0.2) with solo-learn's values where the paper is silent
/// (projector hidden 2048 and tau 0.99 -> 1.0 from its CIFAR config, queue 65536 its default,
/// weight decay 1e-5; all unverified for the paper's runs).
struct All4OneOptions {
  static All4OneOptions paper() { return {}; }
  TORCH_ARG(std::int64_t, proj_hidden_dim) = 2048;
  TORCH_ARG(std::int64_t, proj_output_dim) = 512;
  TORCH_ARG(std::int64_t, pred_hidden_dim) = 4096;
  TORCH_ARG(double, temperature) = 0.2;
  /// NNCLR temperature of the attention term: solo-learn leaves it at nnclr's default 0.1.
  TORCH_ARG(double, attention_temperature) = 0.1;
  /// Queue of momentum embeddings; must be a multiple of the batch size.
  TORCH_ARG(std::int64_t, queue_size) = 65536;
  /// Neighbours taken from the queue (the transformer's sequence length).
  TORCH_ARG(std::int64_t, num_neighbours) = 5;
  TORCH_ARG(std::int64_t, transformer_heads) = 8;
  TORCH_ARG(std::int64_t, transformer_layers) = 3;
  TORCH_ARG(double, transformer_dropout) = 0.1;
  /// solo-learn's fixed learning rate of the transformer group (not batch-scaled, but scheduled).
  TORCH_ARG(double, transformer_lr) = 0.1;
  TORCH_ARG(double, tau_base) = 0.99;
  TORCH_ARG(double, tau_final) = 1.0;
  TORCH_ARG(double, lr) = 1.0;
  TORCH_ARG(double, weight_decay) = 1e-5;
};

/// The positional encoding All4One adds to its token sequences (positional_encodings'
/// Summer(PositionalEncodingPermute1D(tokens))): a 1-D sinusoid along the FEATURE axis with
/// `tokens` channels: token 2k is sin(d f_k), token 2k+1 cos(d f_k), f_k = 10000^(-2k / c),
/// c = tokens rounded up to even. Returns [tokens, dim].
inline torch::Tensor all4one_positional_encoding(std::int64_t tokens, std::int64_t dim,
                                                 const torch::TensorOptions& options) {
  const std::int64_t channels = (tokens + 1) / 2 * 2;
  const torch::Tensor inv_freq =
      1.0 / torch::pow(10000.0, torch::arange(0, channels, 2, torch::kDouble) /
                                    static_cast<double>(channels));
  const torch::Tensor angle = torch::arange(dim, torch::kDouble).unsqueeze(1) * inv_freq;  // [D, c/2]
  const torch::Tensor emb = torch::stack({angle.sin(), angle.cos()}, -1).flatten(1);      // [D, c]
  return emb.narrow(1, 0, tokens).t().contiguous().to(options);
}

/// All4One: NNCLR with a queue of momentum embeddings, a transformer over the neighbours
/// (attention contrast between "rich" and "strange" embeddings) and a feature-redundancy term.
///
/// Modules: projector (3 layers, final BN), momentum_projector, predictor, predictor2,
/// transformer. Buffers: `queue` [Q, D] (normalised), `queue_ptr`, `tau`; the teacher is
/// `momentum_backbone` + `momentum_projector`. parameters() leaves the teacher out; the
/// transformer's own learning rate is options().transformer_lr() (transformer_parameters()).
///
/// Note: solo-learn runs projector and predictor twice per view (once in the base forward), which
/// only updates their BatchNorm running statistics twice; those are never used in training or
/// evaluation (which uses the backbone), so radiossl runs them once. solo-learn's queue_y and
/// queue_index buffers hold labels and dataset indexes only for logging; they are omitted.
class All4OneImpl : public torch::nn::Cloneable<All4OneImpl> {
 public:
  using Options = All4OneOptions;
  static constexpr std::string_view name = "all4one";
  static constexpr int min_large_crops = 2;
  /// Keeps an EMA teacher cloned from the backbone (checked by concepts/compatible.hpp).
  static constexpr bool has_teacher = true;

  All4OneImpl(std::int64_t feature_dim, Options options = {})
      : feature_dim_(feature_dim), options_(options) {
    reset();
  }

  void reset() override {
    const auto& o = options_;
    const std::int64_t d = o.proj_output_dim();
    projector = register_module("projector",
                                all4one_projector(feature_dim_, o.proj_hidden_dim(), d));
    momentum_projector = register_module(
        "momentum_projector", all4one_projector(feature_dim_, o.proj_hidden_dim(), d));
    initialize_momentum(*momentum_projector, *projector);
    predictor = register_module("predictor", mlp_head(d, o.pred_hidden_dim(), d, true));
    predictor2 = register_module("predictor2", mlp_head(d, o.pred_hidden_dim(), d, true));
    transformer = register_module(
        "transformer",
        torch::nn::TransformerEncoder(torch::nn::TransformerEncoderOptions(
            torch::nn::TransformerEncoderLayerOptions(d, o.transformer_heads())
                .dim_feedforward(2 * d)
                .dropout(o.transformer_dropout()),
            o.transformer_layers())));
    queue = register_buffer(
        "queue", radiossl::detail::l2_normalize(torch::randn({o.queue_size(), d}), 1));
    queue_ptr = register_buffer("queue_ptr", torch::zeros({1}, torch::kLong));
    tau = register_buffer("tau", torch::full({}, o.tau_base(), torch::kDouble));
  }

  template <CloneableBackbone B>
  void on_train_start(B& backbone) {
    if (!momentum_backbone)
      momentum_backbone = register_module("momentum_backbone", make_momentum_backbone(backbone));
  }

  /// x [N, T, D] plus the positional encoding along D.
  torch::Tensor positional_encode(const torch::Tensor& x) const {
    return x + all4one_positional_encoding(x.size(1), x.size(2), x.options()).unsqueeze(0);
  }

  /// The transformer's output at the first token: [N, T, D] -> [N, D] (batch-first in, as
  /// solo-learn; LibTorch's encoder is sequence-first).
  torch::Tensor encode_first(const torch::Tensor& tokens) {
    return transformer->forward(tokens.transpose(0, 1))[0];
  }

  /// encode_first of several token batches in one transformer pass. The encoder has no
  /// batch-wide statistics (LayerNorm is per token, attention per sequence), so this is the
  /// same function as one call per batch, in larger matrix products: solo-learn makes four
  /// calls of 5-token sequences a step, whose products of 5 x batch rows and tiny per-head
  /// attention products cost more in call overhead than in arithmetic. Only the dropout masks
  /// are drawn differently (one draw over all batches).
  std::vector<torch::Tensor> encode_first_each(const std::vector<torch::Tensor>& token_batches) {
    std::vector<std::int64_t> sizes;
    for (const auto& t : token_batches) sizes.push_back(t.size(0));
    return encode_first(torch::cat(token_batches, 0)).split_with_sizes(sizes, 0);
  }

  /// The `num_neighbours` nearest queue entries of each row of `m` (normalised): [N, k, D].
  torch::Tensor nearest_neighbours(const torch::Tensor& m) const {
    torch::NoGradGuard no_grad;
    const std::int64_t k = options_.num_neighbours();
    const torch::Tensor idx = std::get<1>(m.mm(queue.t().to(m.scalar_type())).topk(k, 1));
    return queue.index_select(0, idx.flatten()).view({m.size(0), k, queue.size(1)}).to(m.scalar_type());
  }

  template <CloneableBackbone B>
  StepOutput training_step(B& backbone, const Views& views) {
    detail::check_views(views, min_large_crops, name);
    on_train_start(backbone);
    const std::int64_t n = views[0].size(0);
    const std::int64_t q = queue.size(0);
    if (q % (n * radiossl::detail::world_size()) != 0)
      throw Error("method::all4one: queue_size " + std::to_string(q) +
                  " must be a multiple of the global batch size " +
                  std::to_string(n * radiossl::detail::world_size()));
    const torch::Tensor z1 = projector->forward(backbone->forward(views[0]));
    const torch::Tensor z2 = projector->forward(backbone->forward(views[1]));
    const torch::Tensor p1 = predictor->forward(z1), p2 = predictor->forward(z2);
    const torch::Tensor p1b = predictor2->forward(z1), p2b = predictor2->forward(z2);
    torch::Tensor m1, m2;
    {
      torch::NoGradGuard no_grad;
      m1 = radiossl::detail::l2_normalize(
          momentum_projector->forward(momentum_forward<B>(momentum_backbone, views[0])), 1);
      m2 = radiossl::detail::l2_normalize(
          momentum_projector->forward(momentum_forward<B>(momentum_backbone, views[1])), 1);
    }
    // Both views' neighbours in one product: the 65536-row queue is read once, not twice.
    const auto nn = nearest_neighbours(torch::cat({m1, m2}, 0)).chunk(2, 0);
    const torch::Tensor &nn1 = nn[0], &nn2 = nn[1];
    const std::int64_t k = options_.num_neighbours();
    // "Shift": the second predictor's output takes the first place, the last neighbour drops.
    const torch::Tensor strange1 =
        positional_encode(torch::cat({p1b.unsqueeze(1), nn1}, 1).narrow(1, 0, k));
    const torch::Tensor strange2 =
        positional_encode(torch::cat({p2b.unsqueeze(1), nn2}, 1).narrow(1, 0, k));
    const auto encoded = encode_first_each({positional_encode(nn1), positional_encode(nn2), strange1, strange2});
    const torch::Tensor &rich1 = encoded[0], &rich2 = encoded[1];
    const torch::Tensor &strange_e1 = encoded[2], &strange_e2 = encoded[3];

    const auto terms = loss::all4one(rich1, rich2, strange_e1, strange_e2, nn1.select(1, 0),
                                     nn2.select(1, 0), p1, p2, m1, m2, z1, z2,
                                     options_.temperature(), options_.attention_temperature());
    enqueue(m1);
    return {terms.total,
            {{"attention_loss", terms.attention.item<double>()},
             {"nn_loss", terms.nn.item<double>()},
             {"feature_loss", terms.feature.item<double>()}}};
  }

  /// Writes the gathered momentum embeddings of view 1 at the queue pointer (FIFO); the NN
  /// search of this step ran before, so a batch never finds itself.
  void enqueue(const torch::Tensor& m) {
    torch::NoGradGuard no_grad;
    const torch::Tensor all = radiossl::detail::all_gather(m);
    // A checkpoint written at another global batch can leave the pointer between two slots of
    // this one; the slot it falls in is the next to be written, so the write never runs past the end.
    const std::int64_t ptr = queue_ptr.item<std::int64_t>() / all.size(0) * all.size(0);
    queue.narrow(0, ptr, all.size(0)).copy_(all);
    queue_ptr.fill_((ptr + all.size(0)) % queue.size(0));
  }

  template <CloneableBackbone B>
  void on_step_end(B& backbone, double progress) {
    on_train_start(backbone);
    const double t = tau.item<double>();
    ema_update(*momentum_backbone, *backbone, t);
    ema_update(*momentum_projector, *projector, t);
    tau.fill_(cosine_tau(options_.tau_base(), options_.tau_final(), progress));
  }

  /// Learnable parameters (heads and transformer), without the `momentum_*` teacher.
  std::vector<torch::Tensor> parameters(bool /*recurse*/ = true) const {
    return learnable_parameters(*this);
  }

  /// The transformer's parameters: solo-learn gives them lr options().transformer_lr().
  std::vector<torch::Tensor> transformer_parameters() const { return transformer->parameters(); }

  const Options& options() const { return options_; }

  torch::nn::Sequential projector{nullptr}, momentum_projector{nullptr}, predictor{nullptr},
      predictor2{nullptr};
  torch::nn::TransformerEncoder transformer{nullptr};
  std::shared_ptr<torch::nn::Module> momentum_backbone;
  torch::Tensor queue, queue_ptr, tau;

 private:
  std::int64_t feature_dim_;
  Options options_;
};
TORCH_MODULE(All4One);

}  // namespace radiossl::method
