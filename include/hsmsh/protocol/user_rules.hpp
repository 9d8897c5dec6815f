// SPDX-License-Identifier: Apache-2.0
// User types, and the rules for user names and passwords (docs/design.md, "What a node enforces").
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace hsm {

enum class user_type { preco, co, pco, cu, au };

inline constexpr std::size_t max_user_name = 31;
inline constexpr std::size_t min_password = 7;
inline constexpr std::size_t max_password = 128;
inline constexpr std::size_t max_users_per_node = 1024;
inline constexpr int max_login_failures = 5;

/// "PRECO", "CO", "PCO", "CU", "AU".
std::string_view user_type_name(user_type t) noexcept;

/// Parses a type name; case-sensitive as in CMU, except "preCO" which CMU accepts.
std::optional<user_type> user_type_from_name(std::string_view name) noexcept;

/// True for the officer types that manage users (CO and PCO).
bool is_officer(user_type t) noexcept;

/// Cluster ids: 1-64 of [A-Za-z0-9._-].
bool valid_cluster_id(std::string_view id) noexcept;

/// True when `name` is 1-31 of [A-Za-z0-9_].
bool valid_user_name(std::string_view name) noexcept;

/// The stored and displayed form of a valid name: lower case.
std::string canonical_user_name(std::string_view name);

/// True when `password` is 7-128 bytes with no control characters.
bool valid_password(std::string_view password) noexcept;

} // namespace hsm
