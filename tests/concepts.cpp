/// @file
/// Compile-time checks of the four policy concepts and of the cross-policy ones, with archetypes
/// (range-v3's test/utility/concepts.cpp style). Compiling this file is the test.
#include "support/catch.hpp"

#include "radiossl/concepts/augment.hpp"
#include "radiossl/concepts/backbone.hpp"
#include "radiossl/concepts/compatible.hpp"
#include "radiossl/concepts/method.hpp"
#include "radiossl/concepts/optimizer.hpp"
#include "radiossl/optim/adamw.hpp"
#include "radiossl/optim/lars.hpp"
#include "radiossl/optim/sgd.hpp"
#include "radiossl/trainer.hpp"
#include "support/archetypes.hpp"

using namespace radiossl;
using namespace radiossl::archetypes;

// Backbone
static_assert(Backbone<TinyBackbone>);
static_assert(Backbone<PlainBackbone>);
static_assert(!Backbone<NoFeatureDim>);
static_assert(!Backbone<int>);
static_assert(!Backbone<TinyBackboneImpl>);  // the Impl, not the holder
static_assert(CloneableBackbone<TinyBackbone>);
// Module::clone() exists on every module (and throws at run time unless Cloneable): the concept
// checks the Cloneable base, so a plain module is rejected.
static_assert(!CloneableBackbone<PlainBackbone>);

// Method
static_assert(Method<TinyMethod, TinyBackbone>);
static_assert(Method<TinyMethod, PlainBackbone>);
static_assert(Method<ThreeCropMethod, TinyBackbone>);
static_assert(Method<TeacherMethod, TinyBackbone>);
static_assert(!Method<NoStepMethod, TinyBackbone>);
static_assert(!Method<TinyMethod, NoFeatureDim>);  // a Method needs a valid Backbone
static_assert(!Method<TinyBackbone, TinyBackbone>);

// Augment
static_assert(Augment<IdentityAugment>);
static_assert(Augment<MultiCropAugment>);
static_assert(!Augment<NoSmallCropsAugment>);
static_assert(!Augment<TinyBackbone>);

// Optimizer
static_assert(Optimizer<optim::LARS>);
static_assert(Optimizer<optim::SGD>);
static_assert(Optimizer<optim::AdamW>);
static_assert(!Optimizer<NoSetLrOptimizer>);
static_assert(!Optimizer<torch::optim::SGD>);  // LibTorch's own: no Options member, no set_lr

// Cross-policy (compatible.hpp)
static_assert(CropsFit<TinyMethod, IdentityAugment>);
static_assert(!CropsFit<ThreeCropMethod, IdentityAugment>);
static_assert(!CropsFit<ThreeCropMethod, MultiCropAugment>);
static_assert(!method_has_teacher<TinyMethod>);
static_assert(method_has_teacher<TeacherMethod>);
static_assert(TeacherFits<TeacherMethod, TinyBackbone>);
static_assert(!TeacherFits<TeacherMethod, PlainBackbone>);
static_assert(TeacherFits<TinyMethod, PlainBackbone>);
static_assert(Compatible<TinyBackbone, TeacherMethod, MultiCropAugment>);
static_assert(!Compatible<PlainBackbone, TeacherMethod, IdentityAugment>);

// The Trainer's overall verdict.
static_assert(trainer_policies_valid<TinyBackbone, TinyMethod, IdentityAugment, optim::LARS>);
static_assert(!trainer_policies_valid<TinyBackbone, ThreeCropMethod, IdentityAugment, optim::LARS>);
static_assert(!trainer_policies_valid<TinyBackbone, TinyMethod, IdentityAugment, NoSetLrOptimizer>);

TEST_CASE("concepts: the static checks of this file compiled", "[concepts]") {
  // Note: the real checks are the static_asserts above; this case makes the file show up in runs.
  CHECK(trainer_policies_valid<TinyBackbone, TinyMethod, MultiCropAugment, optim::AdamW>);
}
