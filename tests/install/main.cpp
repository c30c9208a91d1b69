// Uses radiossl through the installed headers and package only.
#include <iostream>

#include "radiossl/image.hpp"
#include "radiossl/version.hpp"

int main() {
  radiossl::Image img(2, 3, 1.0f);
  std::cout << "radiossl " << RADIOSSL_VERSION_MAJOR << '.' << RADIOSSL_VERSION_MINOR << '.'
            << RADIOSSL_VERSION_PATCH << " image " << img.height << "x" << img.width << "\n";
  return img.size() == 6 ? 0 : 1;
}
