// SPDX-License-Identifier: Apache-2.0
// Linked into the test build of the shell only (hsmsh-failpoints): a shell
// that dies between the phases when HSMSH_FAILPOINT names the point.
#include "hsmsh/client/two_phase.hpp"

#include <cstdlib>

namespace {

bool from_environment(std::string_view where) noexcept {
    const char* fp = std::getenv("HSMSH_FAILPOINT");
    return fp && where == fp;
}

// Set before main() runs; the hook it replaces is constant-initialised.
const bool installed = (hsm::set_failpoint_hook(from_environment), true);

} // namespace
