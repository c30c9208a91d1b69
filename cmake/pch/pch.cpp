// Builds the shared precompiled header (cmake/pch/pch.hpp) once for every program.
