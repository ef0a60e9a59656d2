/// The library's version.
#ifndef NECRO_VERSION_HPP
#define NECRO_VERSION_HPP
#pragma once

#define NECRO_VERSION_MAJOR 0
#define NECRO_VERSION_MINOR 1
#define NECRO_VERSION_PATCH 0
#define NECRO_VERSION_STRING "0.1.0"

#endif
