// SPDX-License-Identifier: Apache-2.0
// One field of a JSON object the shell did not write (a node's reply, an authdata file).
#pragma once

#include "hsmsh/protocol/wire.hpp"

#include <cstdint>
#include <string>

namespace hsm {

/// The field `key` of `j` as a number, text or list: 0, "" or [] when `j`
/// is not an object or the field is missing or of another type. A malformed
/// reply or file shows as such, and never ends the shell.
std::int64_t number_in(const json& j, const char* key);
std::string text_in(const json& j, const char* key);
json list_in(const json& j, const char* key);

} // namespace hsm
