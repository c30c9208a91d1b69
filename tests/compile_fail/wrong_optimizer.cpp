// expect-error: Optimizer must provide .Options., a constructor
/// @file
/// An Optimizer without set_lr stops with the Optimizer message only.
#include "radiossl/optim/lars.hpp"
#include "radiossl/trainer.hpp"
#include "../support/archetypes.hpp"

int main() {
  using namespace radiossl;
  using namespace radiossl::archetypes;
  Trainer<TinyBackbone, TinyMethod, IdentityAugment, NoSetLrOptimizer> trainer(TrainerOptions().device(torch::Device(torch::kCPU)).progress(false));
  trainer.train_step(Views{torch::zeros({2, 1, 8, 8}), torch::zeros({2, 1, 8, 8})});
  return 0;
}
