// SPDX-License-Identifier: Apache-2.0
// Lower-case hexadecimal: the one encoder and decoder for bytes in text.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace hsm {

/// "00ff..." for the bytes, two lower-case digits each.
std::string to_hex(std::span<const std::uint8_t> bytes);

/// The bytes of lower-case hex text; nullopt for odd lengths or other characters.
std::optional<std::vector<std::uint8_t>> from_hex(std::string_view text);

/// `count` bytes from OpenSSL's CSPRNG as hex (ids, salts). Throws std::runtime_error.
std::string random_hex(std::size_t count);

} // namespace hsm
