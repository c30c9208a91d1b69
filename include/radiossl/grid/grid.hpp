/// @file
/// The benchmark grid: the Boost.Hana cartesian product of method, backbone and pretraining-set
/// types, each cell its own `Trainer<Backbone, Method, RadioSymmetric, LARS>`, pretrained and then
/// evaluated on every downstream set; resumable, with the paper's tables at the end.
#pragma once

#include <boost/hana/at.hpp>
#include <boost/hana/cartesian_product.hpp>
#include <boost/hana/filter.hpp>
#include <boost/hana/for_each.hpp>
#include <boost/hana/length.hpp>
#include <boost/hana/transform.hpp>
#include <boost/hana/tuple.hpp>
#include <boost/hana/type.hpp>

#include "radiossl/backbone/resnet.hpp"
#include "radiossl/grid/pretrain_set.hpp"
#include "radiossl/method/all4one.hpp"
#include "radiossl/method/byol.hpp"
#include "radiossl/method/dino.hpp"
#include "radiossl/method/simclr.hpp"
#include "radiossl/method/swav.hpp"
#include "radiossl/method/wmse.hpp"

namespace radiossl::grid {

namespace hana = boost::hana;

/// The six methods of the paper. Adding a method to the grid is adding its type here.
inline constexpr auto all_methods =
    hana::tuple_t<method::SimCLR, method::BYOL, method::DINO, method::WMSE, method::SwAV, method::All4One>;
/// The two backbones of the paper.
inline constexpr auto all_backbones = hana::tuple_t<backbone::ResNet18, backbone::ResNet50>;
/// The two pretraining sets of the paper.
inline constexpr auto all_pretrain_sets = hana::tuple_t<Curated, Uncurated>;

/// One cell of the grid: a strongly typed training program.
template <class M, class B, class P>
struct Cell {
  using Method = M;
  using Backbone = B;
  using PretrainSet = P;
  /// The paper trained ResNet-50 on the curated set only (timing constraints, section 4.1).
  static constexpr bool in_paper = !(std::is_same_v<P, Uncurated> && std::is_same_v<B, backbone::ResNet50>);
};

/// Every (method, backbone, pretraining set) combination, as `hana::type`s of `Cell<M, B, P>`.
template <class Methods, class Backbones, class Sets>
constexpr auto make_cells(Methods methods, Backbones backbones, Sets sets) {
  return hana::transform(hana::cartesian_product(hana::make_tuple(methods, backbones, sets)), [](auto t) {
    using M = typename decltype(+hana::at_c<0>(t))::type;
    using B = typename decltype(+hana::at_c<1>(t))::type;
    using P = typename decltype(+hana::at_c<2>(t))::type;
    return hana::type_c<Cell<M, B, P>>;
  });
}

/// The whole grid: 6 methods x 2 backbones x 2 pretraining sets = 24 cells (18 of them the paper's).
inline constexpr auto all_cells = make_cells(all_methods, all_backbones, all_pretrain_sets);
static_assert(decltype(hana::length(all_cells))::value == 24, "6 methods x 2 backbones x 2 sets");

}  // namespace radiossl::grid
