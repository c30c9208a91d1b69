// expect-error: Method needs more crops than Augment produces
/// @file
/// A method that reads three large crops with a two-crop augmentation (as DINO without multi-crop).
#include "radiossl/optim/lars.hpp"
#include "radiossl/trainer.hpp"
#include "../support/archetypes.hpp"

int main() {
  using namespace radiossl;
  using namespace radiossl::archetypes;
  Trainer<TinyBackbone, ThreeCropMethod, IdentityAugment, optim::LARS> trainer(TrainerOptions().device(torch::Device(torch::kCPU)).progress(false));
  trainer.train_step(Views{torch::zeros({2, 1, 8, 8}), torch::zeros({2, 1, 8, 8})});
  return 0;
}
