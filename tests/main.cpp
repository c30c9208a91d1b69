// Catch2 runner shared by every test file: seeds LibTorch from --rng-seed so runs reproduce,
// and uses one intra-op thread because ctest runs two test processes side by side on 2 cores.
#define CATCH_CONFIG_RUNNER
#include "support/catch.hpp"
#include <torch/utils.h>

int main(int argc, char* argv[]) {
  Catch::Session session;
  if (int rc = session.applyCommandLine(argc, argv); rc != 0) return rc;
  torch::manual_seed(session.config().rngSeed());
  torch::set_num_threads(1);
  return session.run();
}
