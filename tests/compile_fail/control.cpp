// expect-compile
/// @file
/// Control: valid policies must compile (proves the compile-fail harness builds what it should).
#include "radiossl/optim/lars.hpp"
#include "radiossl/trainer.hpp"
#include "../support/archetypes.hpp"

int main() {
  using namespace radiossl;
  using namespace radiossl::archetypes;
  Trainer<TinyBackbone, TinyMethod, IdentityAugment, optim::LARS> trainer(TrainerOptions().device(torch::Device(torch::kCPU)).progress(false));
  trainer.train_step(Views{torch::zeros({2, 1, 8, 8}), torch::zeros({2, 1, 8, 8})});
  return 0;
}
