/// @file
/// The one exception type radiossl throws for bad input and failed I/O.
#pragma once

#include <stdexcept>
#include <string>

namespace radiossl {

/// Thrown for bad input (unreadable file, wrong format, inconsistent options).
/// The message always names the file or the option and the problem, in one line, so that
/// command-line tools can print `what()` as is.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace radiossl
