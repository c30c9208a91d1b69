/// @file
/// Where this process sits in a multi-process launch, read from the launcher's environment.
///
/// torchrun sets RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT; SLURM's srun sets
/// SLURM_PROCID/SLURM_NTASKS/SLURM_LOCALID and Open MPI's mpirun OMPI_COMM_WORLD_RANK/SIZE/
/// LOCAL_RANK (both still need MASTER_ADDR when they span several nodes). RADIOSSL_DIST_TIMEOUT and
/// RADIOSSL_DIST_BACKEND are radiossl's own. Torch-free.
#pragma once

#include <charconv>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <system_error>

#include "radiossl/error.hpp"

namespace radiossl::dist {

/// One process's place in the job and how it reaches the others.
struct LaunchEnv {
  std::int64_t rank = 0;        ///< global rank in [0, world_size)
  std::int64_t world_size = 1;  ///< number of processes
  std::int64_t local_rank = 0;  ///< rank on this node (selects the GPU)
  std::string master_addr = "127.0.0.1";  ///< host of rank 0, which serves the rendezvous store
  std::uint16_t master_port = 29500;      ///< port of the rendezvous store (torchrun's default)
  /// Seconds a rendezvous or a collective may wait for the other ranks before failing with
  /// radiossl::Error (RADIOSSL_DIST_TIMEOUT); a rank that dies makes the others fail within this.
  double timeout_s = 300.0;
  std::string launcher = "none";  ///< which variables were read: torchrun, slurm, openmpi, none
  /// Which c10d backend carries the collectives (RADIOSSL_DIST_BACKEND): "gloo", "nccl", or
  /// "auto", which picks NCCL when CUDA devices are visible and radiossl was built with it, else
  /// Gloo (dist/process_group.hpp, resolve_backend).
  std::string backend = "auto";
};

namespace detail {

inline std::optional<std::string> env(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return std::nullopt;
  return std::string(v);
}

inline std::int64_t env_int(const char* name, const std::string& v) {
  std::int64_t out = 0;
  const auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
  if (ec != std::errc() || p != v.data() + v.size())
    throw Error(std::string("radiossl::dist: environment variable ") + name + "='" + v + "' is not an integer");
  return out;
}

}  // namespace detail

/// Reads the launch environment (torchrun's variables first, then SLURM's, then Open MPI's).
/// Without any of them: one process (rank 0 of 1). Throws radiossl::Error naming the variable
/// for a malformed or inconsistent value.
inline LaunchEnv launch_from_env() {
  LaunchEnv e;
  using detail::env;
  using detail::env_int;
  auto take = [&](const char* rank, const char* size, const char* local, const char* who) {
    const auto r = env(rank), s = env(size);
    if (!r || !s) return false;
    e.rank = env_int(rank, *r);
    e.world_size = env_int(size, *s);
    e.local_rank = env(local) ? env_int(local, *env(local)) : 0;
    e.launcher = who;
    if (e.world_size < 1)
      throw Error(std::string("radiossl::dist: ") + size + "=" + *s + " must be >= 1");
    if (e.rank < 0 || e.rank >= e.world_size)
      throw Error(std::string("radiossl::dist: ") + rank + "=" + *r + " is outside [0, " + size + "=" + *s + ")");
    return true;
  };
  (void)(take("RANK", "WORLD_SIZE", "LOCAL_RANK", "torchrun") ||
         take("SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID", "slurm") ||
         take("OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK", "openmpi"));
  if (const auto a = env("MASTER_ADDR")) e.master_addr = *a;
  if (const auto p = env("MASTER_PORT")) {
    const std::int64_t port = env_int("MASTER_PORT", *p);
    if (port < 1 || port > 65535) throw Error("radiossl::dist: MASTER_PORT=" + *p + " is not a TCP port (1-65535)");
    e.master_port = static_cast<std::uint16_t>(port);
  }
  if (const auto t = env("RADIOSSL_DIST_TIMEOUT")) {
    char* end = nullptr;
    const double s = std::strtod(t->c_str(), &end);
    if (end != t->c_str() + t->size() || !(s > 0))
      throw Error("radiossl::dist: RADIOSSL_DIST_TIMEOUT='" + *t + "' must be a positive number of seconds");
    e.timeout_s = s;
  }
  if (const auto b = env("RADIOSSL_DIST_BACKEND")) {
    if (*b != "auto" && *b != "gloo" && *b != "nccl")
      throw Error("radiossl::dist: RADIOSSL_DIST_BACKEND='" + *b + "' must be auto, gloo or nccl");
    e.backend = *b;
  }
  // Several nodes need to know where rank 0 is: torchrun says, SLURM and mpirun do not.
  const bool several_nodes =
      (e.launcher == "slurm" && env("SLURM_NNODES").value_or("1") != "1") ||
      (e.launcher == "openmpi" && env("OMPI_COMM_WORLD_LOCAL_SIZE").value_or(std::to_string(e.world_size)) !=
                                      std::to_string(e.world_size));
  if (e.world_size > 1 && several_nodes && !env("MASTER_ADDR"))
    throw Error("radiossl::dist: " + std::to_string(e.world_size) + " " + e.launcher +
                " processes on several nodes but MASTER_ADDR is not set: export the host of rank 0 (SLURM: "
                "MASTER_ADDR=$(scontrol show hostnames \"$SLURM_JOB_NODELIST\" | head -n1))");
  return e;
}

}  // namespace radiossl::dist
