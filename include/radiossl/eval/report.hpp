/// @file
/// The benchmark's report: mean +/- std per configuration, Tables 1 (linear) and 2 (fine-tuning)
/// in the paper's layout, summary.json, and the science check (SSL against random initialisation).
#pragma once

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include <nlohmann/json.hpp>

#include "radiossl/error.hpp"
#include "radiossl/eval/metrics.hpp"
#include "radiossl/eval/results.hpp"

namespace radiossl::eval {

/// Identifies one cell of a table: a pretrained configuration evaluated on one set by one protocol.
struct CellKey {
  std::string pretrain, backbone, method, downstream, protocol;
  auto operator<=>(const CellKey&) const = default;
};

/// Mean +/- std of the accuracies of every (seed, fold) run of each cell.
inline std::map<CellKey, MeanStd> summarize(const std::vector<ResultRow>& rows) {
  std::map<CellKey, std::vector<double>> acc;
  for (const auto& r : rows)
    acc[{r.pretrain, r.backbone, r.method, r.downstream, r.protocol}].push_back(r.result.accuracy);
  std::map<CellKey, MeanStd> out;
  for (const auto& [k, v] : acc) out[k] = mean_std(v);
  return out;
}

/// Ordering of table blocks: the paper's Curated, Uncurated, then other sets, then the baselines.
inline int pretrain_rank(const std::string& p) {
  if (p == "Curated") return 0;
  if (p == "Uncurated") return 1;
  if (p == random_init_name) return 3;
  if (p == imagenet_name) return 4;
  return 2;
}

/// One Markdown table in the paper's layout ("Dataset | Backbone | Method | <sets>"), accuracies
/// in percent as mean +/- std, the best mean of each block (pretraining set x backbone) in bold.
/// `sets` fixes the column order; columns without results are dropped.
inline std::string markdown_table(const std::map<CellKey, MeanStd>& summary, const std::string& protocol,
                                  const std::vector<std::string>& sets) {
  std::vector<std::string> columns;
  for (const auto& s : sets)
    for (const auto& [k, v] : summary)
      if (k.protocol == protocol && k.downstream == s) {
        columns.push_back(s);
        break;
      }
  using Block = std::pair<std::string, std::string>;  // pretrain, backbone
  std::map<Block, std::set<std::string>> methods;
  for (const auto& [k, v] : summary)
    if (k.protocol == protocol) methods[{k.pretrain, k.backbone}].insert(k.method);
  std::vector<Block> blocks;
  for (const auto& [b, m] : methods) blocks.push_back(b);
  std::stable_sort(blocks.begin(), blocks.end(), [](const Block& a, const Block& b) {
    return std::make_tuple(pretrain_rank(a.first), a.first, a.second) <
           std::make_tuple(pretrain_rank(b.first), b.first, b.second);
  });
  std::ostringstream md;
  md << "| Dataset | Backbone | Method |";
  for (const auto& c : columns) md << ' ' << c << " |";
  md << "\n|---|---|---|";
  for (std::size_t i = 0; i < columns.size(); ++i) md << "---|";
  md << '\n';
  char buf[64];
  for (const auto& block : blocks) {
    std::map<std::string, double> best;
    for (const auto& m : methods[block])
      for (const auto& c : columns)
        if (auto it = summary.find({block.first, block.second, m, c, protocol}); it != summary.end())
          best[c] = std::max(best.count(c) ? best[c] : -1.0, it->second.mean);
    bool first = true;
    for (const auto& m : methods[block]) {
      md << "| " << (first ? block.first : "") << " | " << (first ? block.second : "") << " | " << m << " |";
      first = false;
      for (const auto& c : columns) {
        auto it = summary.find({block.first, block.second, m, c, protocol});
        if (it == summary.end()) {
          md << " - |";
          continue;
        }
        std::snprintf(buf, sizeof buf, "%.1f ± %.1f", 100.0 * it->second.mean, 100.0 * it->second.std);
        const bool is_best = methods[block].size() > 1 && it->second.mean >= best[c] - 1e-12;
        md << ' ' << (is_best ? "**" : "") << buf << (is_best ? "**" : "") << " |";
      }
      md << '\n';
    }
  }
  return md.str();
}

/// For each downstream set: the best and the mean SSL linear accuracy against random initialisation,
/// and curated against uncurated pretraining (the paper's two headline findings).
struct ScienceCheck {
  std::string downstream;
  std::string backbone;
  std::optional<double> random_init;
  std::optional<double> ssl_mean, ssl_best;
  std::string ssl_best_label;
  std::optional<double> curated_mean, uncurated_mean;
};

inline std::vector<ScienceCheck> science_check(const std::map<CellKey, MeanStd>& summary,
                                               const std::string& protocol = "linear") {
  std::map<std::pair<std::string, std::string>, ScienceCheck> by;
  std::map<std::pair<std::string, std::string>, std::vector<double>> ssl, cur, unc;
  for (const auto& [k, v] : summary) {
    if (k.protocol != protocol) continue;
    auto& sc = by[{k.downstream, k.backbone}];
    sc.downstream = k.downstream;
    sc.backbone = k.backbone;
    if (k.pretrain == random_init_name) {
      sc.random_init = v.mean;
    } else if (k.pretrain != imagenet_name) {
      ssl[{k.downstream, k.backbone}].push_back(v.mean);
      if (!sc.ssl_best || v.mean > *sc.ssl_best) {
        sc.ssl_best = v.mean;
        sc.ssl_best_label = k.method + " (" + k.pretrain + ")";
      }
      if (k.pretrain == "Curated") cur[{k.downstream, k.backbone}].push_back(v.mean);
      if (k.pretrain == "Uncurated") unc[{k.downstream, k.backbone}].push_back(v.mean);
    }
  }
  std::vector<ScienceCheck> out;
  for (auto& [key, sc] : by) {
    if (auto& v = ssl[key]; !v.empty()) sc.ssl_mean = mean_std(v).mean;
    if (auto& v = cur[key]; !v.empty()) sc.curated_mean = mean_std(v).mean;
    if (auto& v = unc[key]; !v.empty()) sc.uncurated_mean = mean_std(v).mean;
    out.push_back(sc);
  }
  return out;
}

inline std::string science_check_markdown(const std::vector<ScienceCheck>& checks) {
  auto pct = [](const std::optional<double>& v) {
    if (!v) return std::string("-");
    char b[32];
    std::snprintf(b, sizeof b, "%.1f", 100.0 * *v);
    return std::string(b);
  };
  auto diff = [](const std::optional<double>& a, const std::optional<double>& b) {
    if (!a || !b) return std::string("-");
    char buf[32];
    std::snprintf(buf, sizeof buf, "%+.1f", 100.0 * (*a - *b));
    return std::string(buf);
  };
  std::ostringstream md;
  md << "| Downstream | Backbone | Random init | SSL mean | SSL - random | Best SSL | Best - random "
        "| Curated mean | Uncurated mean | Curated - uncurated |\n|---|---|---|---|---|---|---|---|---|---|\n";
  for (const auto& c : checks)
    md << "| " << c.downstream << " | " << c.backbone << " | " << pct(c.random_init) << " | "
       << pct(c.ssl_mean) << " | " << diff(c.ssl_mean, c.random_init) << " | " << pct(c.ssl_best)
       << (c.ssl_best_label.empty() ? "" : " " + c.ssl_best_label) << " | "
       << diff(c.ssl_best, c.random_init) << " | " << pct(c.curated_mean) << " | " << pct(c.uncurated_mean)
       << " | " << diff(c.curated_mean, c.uncurated_mean) << " |\n";
  return md.str();
}

/// summary.json: one object per cell with mean, std and the number of runs behind it.
inline nlohmann::json summary_json(const std::map<CellKey, MeanStd>& summary) {
  nlohmann::json cells = nlohmann::json::array();
  for (const auto& [k, v] : summary)
    cells.push_back({{"pretrain", k.pretrain}, {"backbone", k.backbone}, {"method", k.method},
                     {"downstream", k.downstream}, {"protocol", k.protocol}, {"mean", v.mean},
                     {"std", v.std}, {"runs", v.n}});
  return cells;
}

}  // namespace radiossl::eval
