/// @file
/// Progress of long work: a bar with rate and ETA on a terminal, plain periodic lines otherwise.
#pragma once

#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <iostream>
#include <string>

namespace radiossl::callbacks {

/// Reports `done` of `total` units (optimizer steps) with the loss, lr, rate and ETA.
///
/// On a terminal (stderr is a tty) it redraws one line in place, at most ten times a second; in a
/// log file or pipe it prints one plain line every `every` units and at the end, so that logs stay
/// readable and small. The ETA comes from the rate of the last `window` updates, not the mean since
/// the start: a pause (a suspended machine, a job sharing the cores) would otherwise stretch the
/// ETA until the run ends. The images/s shown spans the same window: one step's rate swings widely
/// (60 to 100 img/s from step to step in a 32 px run), which makes it hard to read.
class Progress {
 public:
  using clock = std::chrono::steady_clock;
  static constexpr std::size_t window = 64;  ///< updates the ETA's and the shown rate's window spans

  /// @param total units of the whole run; @param every units between plain lines (0: only the end);
  /// @param out where to write (stderr by default); @param tty draw the bar (default: isatty(stderr)).
  explicit Progress(std::int64_t total, std::int64_t every = 50, std::ostream& out = std::cerr, int tty = -1)
      : total_(std::max<std::int64_t>(total, 1)), every_(every), out_(&out),
        tty_(tty < 0 ? ::isatty(STDERR_FILENO) == 1 : tty == 1) {}

  /// Starts the clock; `done` units were already done before (a resumed run), they do not count
  /// towards the rate.
  void start(std::int64_t done = 0, clock::time_point now = clock::now()) {
    last_draw_ = now;
    recent_[0] = {done, now, 0.0};
    recorded_ = 1;
  }

  /// Reports that `done` units are complete at `now`; `images_per_s` is the rate of the last step.
  void update(std::int64_t done, std::int64_t epoch, double loss, double lr, double images_per_s,
              clock::time_point now = clock::now()) {
    recent_[recorded_ % window] = {done, now, images_per_s > 0 ? 1.0 / images_per_s : 0.0};
    ++recorded_;
    const bool last = done >= total_;
    if (tty_) {
      if (!last && now - last_draw_ < std::chrono::milliseconds(100)) return;
      *out_ << '\r' << line(done, epoch, loss, lr, now, true) << (last ? "\n" : "") << std::flush;
      last_draw_ = now;
    } else if (last || (every_ > 0 && done % every_ == 0)) {
      *out_ << line(done, epoch, loss, lr, now, false) << '\n' << std::flush;
    }
  }

 private:
  [[nodiscard]] std::string line(std::int64_t done, std::int64_t epoch, double loss, double lr,
                                 clock::time_point now, bool bar) const {
    // The oldest update still in the window (the start, until the window fills).
    const std::size_t oldest = recorded_ > window ? recorded_ % window : 0;
    const auto& old = recent_[oldest];
    const double secs = std::chrono::duration<double>(now - old.when).count();
    const double steps_per_s = secs > 0 ? static_cast<double>(done - old.done) / secs : 0.0;
    const double eta = steps_per_s > 0 ? static_cast<double>(total_ - done) / steps_per_s : 0.0;
    // The harmonic mean of the rates of the steps since then: images over time when the batch is fixed.
    double secs_per_image = 0.0;
    std::size_t rates = 0;
    for (std::size_t i = 0; i < std::min(recorded_, window); ++i) {
      if (i == oldest || recent_[i].secs_per_image <= 0) continue;
      secs_per_image += recent_[i].secs_per_image;
      ++rates;
    }
    const double ips = secs_per_image > 0 ? static_cast<double>(rates) / secs_per_image : 0.0;
    char buf[256];
    std::string head;
    if (bar) {
      constexpr int width = 24;
      const int filled = static_cast<int>(width * std::min(1.0, static_cast<double>(done) / total_));
      head = "[" + std::string(static_cast<std::size_t>(filled), '#') +
             std::string(static_cast<std::size_t>(width - filled), '.') + "] ";
    }
    std::snprintf(buf, sizeof buf, "step %lld/%lld (%.1f%%) epoch %lld loss %.4f lr %.3g %.1f img/s ETA %s",
                  static_cast<long long>(done), static_cast<long long>(total_),
                  100.0 * static_cast<double>(done) / static_cast<double>(total_), static_cast<long long>(epoch),
                  loss, lr, ips, hms(eta).c_str());
    return head + buf;
  }
  static std::string hms(double s) {
    const auto t = static_cast<long long>(s + 0.5);
    char buf[32];
    std::snprintf(buf, sizeof buf, "%02lld:%02lld:%02lld", t / 3600, (t / 60) % 60, t % 60);
    return buf;
  }

  std::int64_t total_;
  std::int64_t every_;
  std::ostream* out_;
  bool tty_;
  clock::time_point last_draw_{};
  struct Update {
    std::int64_t done = 0;
    clock::time_point when{};
    double secs_per_image = 0.0;  ///< of the step that ended then (0: unknown, e.g. the start)
  };
  std::array<Update, window> recent_{};  ///< a ring of the last `window` updates
  std::size_t recorded_ = 0;
};

}  // namespace radiossl::callbacks
