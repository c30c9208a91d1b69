// expect-error: Backbone must be a TORCH_MODULE holder
/// @file
/// A Backbone without feature_dim() stops with the Backbone message only.
#include "radiossl/optim/lars.hpp"
#include "radiossl/trainer.hpp"
#include "../support/archetypes.hpp"

int main() {
  using namespace radiossl;
  using namespace radiossl::archetypes;
  Trainer<NoFeatureDim, TinyMethod, IdentityAugment, optim::LARS> trainer(TrainerOptions().device(torch::Device(torch::kCPU)).progress(false));
  trainer.train_step(Views{torch::zeros({2, 1, 8, 8}), torch::zeros({2, 1, 8, 8})});
  return 0;
}
