/// necro::map::criu_thread<Arch>: the per-architecture bridge between a core's
/// thread notes and CRIU's core_entry thread_info (registers, FPU, TLS).
#ifndef NECRO_MAP_CRIU_THREAD_HPP
#define NECRO_MAP_CRIU_THREAD_HPP
#pragma once

namespace necro::map {

/// Specialised per architecture (see map/x86_64.hpp).
template <class Arch>
struct criu_thread;

}  // namespace necro::map

#include <necro/map/x86_64.hpp>

#endif
