/// @file
/// radiossl's version; CMake parses these three lines.
#pragma once

#define RADIOSSL_VERSION_MAJOR 0
#define RADIOSSL_VERSION_MINOR 1
#define RADIOSSL_VERSION_PATCH 0
