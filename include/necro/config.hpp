/// Build-wide switches and NECRO_ASSERT for programmer errors.
#ifndef NECRO_CONFIG_HPP
#define NECRO_CONFIG_HPP
#pragma once

#include <cstdio>
#include <cstdlib>

/// Programmer errors (a violated precondition), never bad input: abort loudly.
#define NECRO_ASSERT(cond)                                                          \
  do {                                                                              \
    if (!(cond)) {                                                                  \
      std::fprintf(stderr, "necro: assertion failed: %s (%s:%d)\n", #cond, __FILE__, \
                   __LINE__);                                                       \
      std::abort();                                                                 \
    }                                                                               \
  } while (0)

#endif
