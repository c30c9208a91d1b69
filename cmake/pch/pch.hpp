// The shared precompiled header of radiossl's own programs: LibTorch (the expensive part), the
// standard library, and Catch2 for the tests. Consumers of the library never see it.
#pragma once
#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "radiossl/torch_fwd.hpp"
#if __has_include(<catch2/catch.hpp>) || __has_include(<catch2/catch_all.hpp>)  // for the tests alone
#include "../../tests/support/catch.hpp"
#endif
