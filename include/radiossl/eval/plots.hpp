/// @file
/// Figures of the report, drawn on a Canvas: grouped accuracy bars and class-coloured 2-D embeddings.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "radiossl/detail/canvas.hpp"
#include "radiossl/image.hpp"

namespace radiossl::eval {

/// One group of bars (a downstream set): one value in [0, 1] per series, with its error bar.
struct BarGroup {
  std::string label;
  std::vector<double> values;
  std::vector<double> errors;
};

/// Grouped bar chart: `series` names the bars of every group (e.g. "SimCLR Curated R18"),
/// values are accuracies in [0, 1]; a legend lists the series. Returns an RGB image.
inline Image bar_chart(const std::string& title, const std::vector<std::string>& series,
                       const std::vector<BarGroup>& groups, double y_min = 0.0, double y_max = 1.0) {
  using detail::Canvas;
  const std::int64_t bar_w = 10, gap = 24, left = 60, top = 40, plot_h = 320;
  const auto n_series = static_cast<std::int64_t>(std::max<std::size_t>(series.size(), 1));
  const std::int64_t group_w = n_series * bar_w + gap;
  const std::int64_t plot_w = std::max<std::int64_t>(static_cast<std::int64_t>(groups.size()) * group_w, 200);
  std::int64_t legend_w = 0;
  for (const auto& s : series) legend_w = std::max(legend_w, Canvas::text_width(s) + 24);
  const std::int64_t legend_rows = static_cast<std::int64_t>(series.size());
  const std::int64_t width = left + plot_w + 30 + legend_w;
  const std::int64_t height = std::max<std::int64_t>(top + plot_h + 50, top + legend_rows * 12 + 20);
  Canvas c(height, width);
  c.text(left, 12, title, {0, 0, 0}, 2);
  const detail::Rgb axis{0.2f, 0.2f, 0.2f}, grid{0.88f, 0.88f, 0.88f};
  auto y_of = [&](double v) {
    const double t = std::clamp((v - y_min) / (y_max - y_min), 0.0, 1.0);
    return top + plot_h - static_cast<std::int64_t>(std::lround(t * static_cast<double>(plot_h)));
  };
  char buf[16];
  for (int i = 0; i <= 10; ++i) {
    const double v = y_min + (y_max - y_min) * i / 10.0;
    const auto y = y_of(v);
    c.line(left, y, left + plot_w, y, grid);
    std::snprintf(buf, sizeof buf, "%.0f%%", 100.0 * v);
    c.text(left - Canvas::text_width(buf) - 4, y - 3, buf, axis);
  }
  c.line(left, top, left, top + plot_h, axis);
  c.line(left, top + plot_h, left + plot_w, top + plot_h, axis);
  for (std::size_t g = 0; g < groups.size(); ++g) {
    const auto x0 = left + static_cast<std::int64_t>(g) * group_w + gap / 2;
    for (std::size_t s = 0; s < groups[g].values.size() && s < series.size(); ++s) {
      const auto x = x0 + static_cast<std::int64_t>(s) * bar_w;
      const auto y = y_of(groups[g].values[s]);
      c.fill_rect(x, y, bar_w - 1, top + plot_h - y, detail::palette(s));
      if (s < groups[g].errors.size() && groups[g].errors[s] > 0) {
        const auto ylo = y_of(groups[g].values[s] - groups[g].errors[s]);
        const auto yhi = y_of(groups[g].values[s] + groups[g].errors[s]);
        c.line(x + bar_w / 2, yhi, x + bar_w / 2, ylo, axis);
      }
    }
    const auto lw = Canvas::text_width(groups[g].label);
    c.text(x0 + (n_series * bar_w - lw) / 2, top + plot_h + 8, groups[g].label, axis);
  }
  const auto lx = left + plot_w + 30;
  for (std::size_t s = 0; s < series.size(); ++s) {
    const auto y = top + static_cast<std::int64_t>(s) * 12;
    c.fill_rect(lx, y, 9, 9, detail::palette(s));
    c.text(lx + 14, y + 1, series[s], axis);
  }
  return c.image();
}

/// Scatter plot of 2-D points coloured by class, with a legend of class names.
inline Image scatter_2d(const std::string& title, const std::vector<float>& xy /* x0,y0,x1,y1,... */,
                        const std::vector<std::int64_t>& labels, const std::vector<std::string>& class_names) {
  using detail::Canvas;
  const std::int64_t size = 420, left = 20, top = 40;
  std::int64_t legend_w = 0;
  for (const auto& s : class_names) legend_w = std::max(legend_w, Canvas::text_width(s) + 24);
  Canvas c(top + size + 20, left + size + 20 + legend_w);
  c.text(left, 12, title, {0, 0, 0}, 2);
  c.rect_outline(left, top, size, size, {0.2f, 0.2f, 0.2f});
  float xmin = 1e30f, xmax = -1e30f, ymin = 1e30f, ymax = -1e30f;
  for (std::size_t i = 0; i + 1 < xy.size(); i += 2) {
    xmin = std::min(xmin, xy[i]);
    xmax = std::max(xmax, xy[i]);
    ymin = std::min(ymin, xy[i + 1]);
    ymax = std::max(ymax, xy[i + 1]);
  }
  const float span = std::max({xmax - xmin, ymax - ymin, 1e-12f});
  const double margin = 12.0, inner = static_cast<double>(size) - 2 * margin;
  for (std::size_t i = 0; i + 1 < xy.size(); i += 2) {
    const double px = left + margin + inner * (xy[i] - xmin) / span;
    const double py = top + size - margin - inner * (xy[i + 1] - ymin) / span;
    const auto label = i / 2 < labels.size() ? labels[i / 2] : 0;
    c.dot(px, py, 2.2, detail::palette(static_cast<std::size_t>(std::max<std::int64_t>(label, 0))));
  }
  const auto lx = left + size + 20;
  for (std::size_t k = 0; k < class_names.size(); ++k) {
    const auto y = top + static_cast<std::int64_t>(k) * 14;
    c.fill_rect(lx, y, 9, 9, detail::palette(k));
    c.text(lx + 14, y + 1, class_names[k], {0.2f, 0.2f, 0.2f});
  }
  return c.image();
}

}  // namespace radiossl::eval
