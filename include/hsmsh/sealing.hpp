// SPDX-License-Identifier: Apache-2.0
// Keyed digests and sealed records: HMAC-SHA256 and AES-256-GCM under keys
// that only the nodes of a cluster hold.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace hsm {

using bytes = std::vector<std::uint8_t>;

inline constexpr std::size_t sealing_key_size = 32;

/// HMAC-SHA256 of `data` under `key`. Throws std::runtime_error.
bytes hmac_sha256(std::span<const std::uint8_t> key, std::string_view data);

/// AES-256-GCM: a fresh 12-byte nonce, then the ciphertext, then the 16-byte
/// tag, bound to `associated` (which is authenticated, not encrypted).
/// `key` must be sealing_key_size bytes. Throws std::runtime_error.
bytes seal(std::span<const std::uint8_t> key, std::string_view associated,
           std::string_view plaintext);

/// The plaintext of a sealed blob, or nullopt when the key, the associated
/// data or any byte of the blob differs from what sealed it.
std::optional<std::string> unseal(std::span<const std::uint8_t> key, std::string_view associated,
                                  std::span<const std::uint8_t> blob);

} // namespace hsm
