/// necro::map::criu_thread<Arch>: the per-architecture bridge between a core's
/// thread notes and CRIU's core_entry thread_info (registers, FPU, TLS). This
/// header only declares it; each architecture specialises it in its own
/// header (map/x86_64.hpp, map/aarch64.hpp), and map/architectures.hpp lists
/// them all.
#ifndef NECRO_MAP_CRIU_THREAD_HPP
#define NECRO_MAP_CRIU_THREAD_HPP
#pragma once

namespace necro::map {

/// What a specialisation offers (the generic planner calls nothing else):
///   static bool has_thread_info(const pb::core_entry&);  its architecture's thread_info is there
///   static std::uint64_t pc(const pb::core_entry&), sp(...), thread_pointer(...);
///   static std::uint64_t clear_tid(const pb::core_entry&);
///   static void set_clear_tid(pb::core_entry&, std::uint64_t);
///   static result<void> set_registers(pb::core_entry&, const elf::thread_notes<Arch>&,
///                                     const elf::process_notes<Arch>&, const Arch::user_regs& regs,
///                                     std::vector<std::string>& warnings);
///       fills thread_info from a thread's notes, with `regs` (the notes' registers after
///       Arch::rewind_syscall) for the general registers.
template <class Arch>
struct criu_thread;

}  // namespace necro::map

#endif
