// Image: the plain pixel container of the data layer.
#include "radiossl/image.hpp"

TEST_CASE("Image stores planes row-major like a contiguous [C,H,W] tensor", "[image]") {
  radiossl::Image img(2, 3, 4, 0.0f);
  REQUIRE(img.size() == 24);
  img.at(1, 2, 3) = 5.0f;
  CHECK(img.pixels[(1 * 3 + 2) * 4 + 3] == 5.0f);
  CHECK(img.plane(1)[2 * 4 + 3] == 5.0f);
  radiossl::Image mono(3, 4);
  CHECK(mono.channels == 1);
  mono.at(2, 1) = 1.0f;
  CHECK(mono.pixels[9] == 1.0f);
}
