/// @file
/// Catch2 for the tests: 2.x (Debian 12, what CI builds with), or 3.x (Debian 13, the only Catch2
/// there) under the 2.x names the tests use.
#pragma once

#if __has_include(<catch2/catch.hpp>)
#include <catch2/catch.hpp>
#else
#include <string>

#include <catch2/catch_all.hpp>

using Catch::Approx;

namespace Catch {
/// 2.x's string matchers, which 3.x keeps in Catch::Matchers (Contains became ContainsSubstring).
inline auto Contains(const std::string& s, CaseSensitive cs = CaseSensitive::Yes) {
  return Matchers::ContainsSubstring(s, cs);
}
using Matchers::Matches;
using Matchers::StartsWith;
}  // namespace Catch
#endif
