# Finds every dependency of radiossl and lists the targets its INTERFACE library links.
# Used both by the build (CMakeLists.txt) and by the installed package config, so that a consumer's
# find_package(radiossl) re-finds exactly what the build found.
include(CMakeFindDependencyMacro)

find_dependency(Threads)
find_dependency(Torch)                 # imported target `torch` (no namespace), carries the ABI flag
find_dependency(range-v3)
find_dependency(Boost 1.74)            # Boost::headers (Hana)
find_dependency(nlohmann_json 3)
find_dependency(PNG)
find_dependency(PkgConfig)
if(NOT TARGET PkgConfig::CFITSIO)
  pkg_check_modules(CFITSIO REQUIRED IMPORTED_TARGET GLOBAL cfitsio)
endif()
if(NOT TARGET PkgConfig::WCSLIB)
  pkg_check_modules(WCSLIB REQUIRED IMPORTED_TARGET GLOBAL wcslib)
endif()

set(RADIOSSL_DEPENDENCY_TARGETS torch range-v3::range-v3 Boost::headers nlohmann_json::nlohmann_json
    PNG::PNG PkgConfig::CFITSIO PkgConfig::WCSLIB Threads::Threads)
