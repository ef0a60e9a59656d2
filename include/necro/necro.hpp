/// The umbrella header: every public header of necro.
#ifndef NECRO_NECRO_HPP
#define NECRO_NECRO_HPP
#pragma once

#include <necro/config.hpp>
#include <necro/version.hpp>
#include <necro/io/error.hpp>
#include <necro/io/byte_view.hpp>
#include <necro/io/mapped_file.hpp>
#include <necro/io/file_facts.hpp>
#include <necro/io/printable.hpp>
#include <necro/io/unique_fd.hpp>
#include <necro/arch/common.hpp>
#include <necro/arch/x86_64.hpp>
#include <necro/arch/aarch64.hpp>
#include <necro/elf/types.hpp>
#include <necro/elf/notes.hpp>
#include <necro/elf/core_view.hpp>
#include <necro/elf/dynamic_symbols.hpp>
#include <necro/criu/magic.hpp>
#include <necro/criu/image.hpp>
#include <necro/criu/shared_memory.hpp>
#include <necro/criu/image_set.hpp>
#include <necro/criu/rpc.hpp>
#include <necro/map/field.hpp>
#include <necro/map/criu_thread.hpp>
#include <necro/map/x86_64.hpp>
#include <necro/map/aarch64.hpp>
#include <necro/plan/plan.hpp>
#include <necro/plan/layout.hpp>
#include <necro/plan/initial_stack.hpp>
#include <necro/plan/pages.hpp>
#include <necro/plan/shared_memory.hpp>
#include <necro/plan/eventpoll.hpp>
#include <necro/plan/address_space.hpp>
#include <necro/plan/threads.hpp>
#include <necro/plan/resurrection.hpp>
#include <necro/plan/donorless_options.hpp>
#include <necro/plan/donorless.hpp>
#include <necro/plan/explain.hpp>
#include <necro/plan/field_sources.hpp>
#include <necro/write/page_engine.hpp>
#include <necro/write/shared_memory.hpp>
#include <necro/write/commit.hpp>

#endif
