// Evaluation arithmetic: metrics, mean/std, kNN, results CSV, report tables, PCA, figures.
#include <cmath>
#include <filesystem>
#include <fstream>

#include "radiossl/eval/embedding.hpp"
#include "radiossl/eval/knn.hpp"
#include "radiossl/eval/metrics.hpp"
#include "radiossl/eval/plots.hpp"
#include "radiossl/eval/report.hpp"
#include "radiossl/eval/results.hpp"

using namespace radiossl;

TEST_CASE("classify counts accuracy, per-class recall and the confusion matrix", "[eval]") {
  const std::vector<std::int64_t> t{0, 0, 1, 1, 1, 2};
  const std::vector<std::int64_t> p{0, 1, 1, 1, 0, 2};
  const auto c = eval::classify(t, p, 3);
  CHECK(c.accuracy == Approx(4.0 / 6.0));
  CHECK(c.per_class_accuracy == std::vector<double>{0.5, 2.0 / 3.0, 1.0});
  CHECK(c.confusion[0] == std::vector<std::int64_t>{1, 1, 0});
  CHECK(c.confusion[1] == std::vector<std::int64_t>{1, 2, 0});
  CHECK(c.confusion[2] == std::vector<std::int64_t>{0, 0, 1});
  CHECK_THROWS_WITH(eval::classify(t, std::vector<std::int64_t>{0, 1}, 3), Catch::Contains("6 targets but 2 predictions"));
  CHECK_THROWS_AS(eval::classify(std::vector<std::int64_t>{3}, std::vector<std::int64_t>{0}, 3), Error);
}

TEST_CASE("mean_std uses the population standard deviation over seeds x folds", "[eval]") {
  const std::vector<double> nine{0.8, 0.82, 0.84, 0.8, 0.82, 0.84, 0.8, 0.82, 0.84};
  const auto ms = eval::mean_std(nine);
  CHECK(ms.n == 9);
  CHECK(ms.mean == Approx(0.82));
  CHECK(ms.std == Approx(std::sqrt(0.0008 / 3.0)));  // numpy.std(ddof=0)
  CHECK(eval::mean_std(std::vector<double>{}).n == 0);
}

TEST_CASE("knn_predict separates clusters and weights neighbours", "[eval]") {
  torch::manual_seed(3);
  const auto a = torch::randn({40, 8}) * 0.1 + 2.0;
  const auto b = torch::randn({40, 8}) * 0.1 - 2.0;
  const auto train = torch::cat({a.narrow(0, 0, 30), b.narrow(0, 0, 30)});
  const auto labels = torch::cat({torch::zeros({30}, torch::kLong), torch::ones({30}, torch::kLong)});
  const auto test = torch::cat({a.narrow(0, 30, 10), b.narrow(0, 30, 10)});
  for (bool cosine : {true, false}) {
    const auto pred = eval::knn_predict(train, labels, test, 2, eval::KnnOptions().cosine(cosine).chunk(7));
    CHECK(pred.narrow(0, 0, 10).eq(0).all().item<bool>());
    CHECK(pred.narrow(0, 10, 10).eq(1).all().item<bool>());
  }
  // Two close neighbours of class 1 outweigh three far ones of class 0 with euclidean 1/d weights.
  const auto tr = torch::tensor({0.1f, 0.11f, 5.0f, 5.1f, 5.2f}).view({5, 1});
  const auto tl = torch::tensor({1, 1, 0, 0, 0}, torch::kLong);
  const auto pred = eval::knn_predict(tr, tl, torch::zeros({1, 1}), 2,
                                      eval::KnnOptions().k(5).cosine(false));
  CHECK(pred.item<std::int64_t>() == 1);
  CHECK_THROWS_AS(eval::knn_predict(tr, tl, torch::zeros({1, 2}), 2), Error);
}

TEST_CASE("results.csv round-trips every field and keeps rows across appends", "[eval]") {
  const auto dir = std::filesystem::temp_directory_path() / "radiossl_eval_csv";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  eval::ResultRow r{"Curated", "ResNet-18", "SimCLR", 2, "MiraBest", "linear", 1, 100, 50, {}};
  r.result = eval::classify(std::vector<std::int64_t>{0, 1, 1}, std::vector<std::int64_t>{0, 1, 0}, 2);
  eval::append_results_csv(dir / "results.csv", {r});
  r.fold = 2;
  eval::append_results_csv(dir / "results.csv", {r});
  const auto rows = eval::read_results_csv(dir / "results.csv");
  REQUIRE(rows.size() == 2);
  CHECK(rows[0].fold == 1);
  CHECK(rows[1].fold == 2);
  CHECK(rows[0].method == "SimCLR");
  CHECK(rows[0].seed == 2);
  CHECK(rows[0].result.accuracy == Approx(2.0 / 3.0));
  CHECK(rows[0].result.per_class_accuracy[1] == Approx(0.5));
  CHECK(rows[0].result.confusion == r.result.confusion);
  CHECK(eval::read_results_csv(dir / "missing.csv").empty());
  // A run killed in the middle of writing a row leaves it without its newline: the row is dropped
  // on reading, and the next append starts on a clean line.
  { std::ofstream(dir / "results.csv", std::ios::app) << "Curated,ResNet-18,Sim"; }
  CHECK(eval::read_results_csv(dir / "results.csv").size() == 2);
  r.fold = 3;
  eval::append_results_csv(dir / "results.csv", {r});
  const auto after = eval::read_results_csv(dir / "results.csv");
  REQUIRE(after.size() == 3);
  CHECK(after[2].fold == 3);
  CHECK_THROWS_WITH(eval::from_csv("a,b", "x.csv:3"), Catch::Contains("x.csv:3"));
  std::filesystem::remove_all(dir);
}

namespace {
eval::ResultRow row(std::string pre, std::string method, std::string set, double acc, std::int64_t fold) {
  eval::ResultRow r{pre, "ResNet-18", method, 0, set, "linear", fold, 10, 10, {}};
  r.result.accuracy = acc;
  return r;
}
}  // namespace

TEST_CASE("report tables follow the paper's layout with the best of each block in bold", "[eval]") {
  std::vector<eval::ResultRow> rows{
      row("Curated", "SimCLR", "MiraBest", 0.90, 0), row("Curated", "SimCLR", "MiraBest", 0.92, 1),
      row("Curated", "BYOL", "MiraBest", 0.80, 0),   row("Curated", "BYOL", "RGZ", 0.70, 0),
      row("Curated", "SimCLR", "RGZ", 0.60, 0),      row("Uncurated", "SimCLR", "MiraBest", 0.85, 0),
      row(eval::random_init_name, "-", "MiraBest", 0.55, 0)};
  const auto summary = eval::summarize(rows);
  const auto& simclr = summary.at({"Curated", "ResNet-18", "SimCLR", "MiraBest", "linear"});
  CHECK(simclr.mean == Approx(0.91));
  CHECK(simclr.std == Approx(0.01));
  const auto md = eval::markdown_table(summary, "linear", {"MiraBest", "RGZ", "MSRS", "VLASS"});
  CHECK_THAT(md, Catch::StartsWith("| Dataset | Backbone | Method | MiraBest | RGZ |\n"));
  CHECK_THAT(md, Catch::Contains("| Curated | ResNet-18 | BYOL | 80.0 ± 0.0 | **70.0 ± 0.0** |"));
  CHECK_THAT(md, Catch::Contains("|  |  | SimCLR | **91.0 ± 1.0** | 60.0 ± 0.0 |"));
  CHECK(md.find("Curated") < md.find("Uncurated"));
  CHECK(md.find("Uncurated") < md.find(eval::random_init_name));
  const auto checks = eval::science_check(summary);
  const auto mb = std::find_if(checks.begin(), checks.end(), [](auto& c) { return c.downstream == "MiraBest"; });
  REQUIRE(mb != checks.end());
  CHECK(*mb->random_init == Approx(0.55));
  CHECK(*mb->ssl_best == Approx(0.91));
  CHECK(*mb->curated_mean == Approx((0.91 + 0.80) / 2));
  CHECK(*mb->uncurated_mean == Approx(0.85));
  CHECK_THAT(eval::science_check_markdown(checks), Catch::Contains("+36.0"));
  CHECK(eval::summary_json(summary).size() == summary.size());
}

TEST_CASE("pca_2d finds the direction of largest variance", "[eval]") {
  torch::manual_seed(1);
  auto x = torch::randn({200, 5}) * torch::tensor({0.1, 5.0, 0.1, 1.0, 0.1}).to(torch::kFloat);
  const auto xy = eval::pca_2d(x);
  REQUIRE(xy.size() == 400);
  double v0 = 0, v1 = 0;
  for (std::size_t i = 0; i < 200; ++i) {
    v0 += xy[2 * i] * xy[2 * i];
    v1 += xy[2 * i + 1] * xy[2 * i + 1];
  }
  CHECK(v0 / 200 == Approx(25.0).epsilon(0.25));
  CHECK(v1 / 200 == Approx(1.0).epsilon(0.25));
}

TEST_CASE("figures draw bars, dots and labels", "[eval]") {
  const auto bars = eval::bar_chart("ACC", {"A", "B"}, {{"MB", {0.5, 0.9}, {0.05, 0.0}}});
  REQUIRE(bars.channels == 3);
  std::int64_t inked = 0;
  for (float v : bars.pixels) inked += v < 0.5f;
  CHECK(inked > 100);
  const auto sc = eval::scatter_2d("PCA", {0, 0, 1, 1, 2, 0}, {0, 1, 1}, {"FRI", "FRII"});
  CHECK(sc.width > 420);
  radiossl::detail::Canvas c(9, 12);
  c.text(0, 1, "1");
  std::int64_t ink = 0;
  for (float v : c.image().pixels) ink += v < 0.5f;
  CHECK(ink == 3 * 10);  // the glyph '1' has 10 inked cells, in 3 channels
}
