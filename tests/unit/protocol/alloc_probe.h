// Records the largest single operator new since the last reset, so that tests
// can assert that a length was checked before anything was allocated for it.
#pragma once

#include <cstddef>

namespace ddlgate::protocol::test {
void reset_largest_alloc();
std::size_t largest_alloc();
}  // namespace ddlgate::protocol::test
