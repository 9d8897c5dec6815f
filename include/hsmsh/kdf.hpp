// SPDX-License-Identifier: Apache-2.0
// Password hashing: PBKDF2-HMAC-SHA256 with a random salt (docs/design.md, "What a node enforces").
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace hsm {

inline constexpr std::uint32_t default_kdf_iterations = 600'000;
inline constexpr std::uint32_t min_kdf_iterations = 1'000;
/// The most a node accepts, from its options or in a synced record: a
/// derivation must stay a bounded amount of work (about 2 s here).
inline constexpr std::uint32_t max_kdf_iterations = 10'000'000;
inline constexpr std::size_t salt_size = 16;
inline constexpr std::size_t derived_key_size = 32;

/// What the store keeps of a password.
struct password_hash {
    std::vector<std::uint8_t> salt;
    std::vector<std::uint8_t> key;
    std::uint32_t iterations = default_kdf_iterations;
};

/// PBKDF2-HMAC-SHA256 of `password` into `out_size` bytes. Throws std::runtime_error.
std::vector<std::uint8_t> pbkdf2_sha256(std::string_view password,
                                        const std::vector<std::uint8_t>& salt,
                                        std::uint32_t iterations, std::size_t out_size);

/// A new hash with a fresh salt from the OS CSPRNG.
password_hash hash_password(std::string_view password, std::uint32_t iterations);

/// Derives and compares in constant time.
bool verify_password(std::string_view password, const password_hash& stored);

/// Spends the same work as a verification, for users that do not exist.
void dummy_derivation(std::string_view password, std::uint32_t iterations);

} // namespace hsm
