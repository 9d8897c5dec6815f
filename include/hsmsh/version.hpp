// SPDX-License-Identifier: Apache-2.0
// The version of hsmsh and hsmd, as meson's project() names it.
#pragma once

#include <string_view>

namespace hsm {

std::string_view version() noexcept;

} // namespace hsm
