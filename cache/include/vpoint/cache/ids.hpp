#pragma once
// Random identifiers (transaction ids, request ids, lease owners): the 128 bits of a version-4 UUID from
// Boost.Uuid's per-thread generator (seeded from the OS once per thread, no system call per id), written as
// 32 lowercase hex digits.
#include <string>

namespace vpoint::cache {

std::string random_id();

}  // namespace vpoint::cache
