// expect-error: Augment must provide .static constexpr int num_large_crops
/// @file
/// An Augment without num_small_crops stops with the Augment message only.
#include "radiossl/optim/lars.hpp"
#include "radiossl/trainer.hpp"
#include "../support/archetypes.hpp"

int main() {
  using namespace radiossl;
  using namespace radiossl::archetypes;
  Trainer<TinyBackbone, TinyMethod, NoSmallCropsAugment, optim::LARS> trainer(TrainerOptions().device(torch::Device(torch::kCPU)).progress(false));
  trainer.train_step(Views{torch::zeros({2, 1, 8, 8}), torch::zeros({2, 1, 8, 8})});
  return 0;
}
