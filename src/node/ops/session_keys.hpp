// SPDX-License-Identifier: Apache-2.0
// Session keys (PKCS#11 CKA_TOKEN false): made on this node for one login and
// kept in its memory only: never sealed, stored, replicated or counted among
// the node's keys, gone when the login ends, bounded per session and per user.
#pragma once

#include "node_context.hpp"

#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

namespace hsm {

inline constexpr std::size_t max_session_keys = 64;          // of one session
inline constexpr std::size_t max_session_keys_of_user = 256; // of one user's sessions on a node
/// The bytes one session's certificates and data objects may hold (16 of
/// the largest data objects): with --max-connections' 32 logins, a node's
/// memory for them stays near 32 MiB.
inline constexpr std::size_t max_session_object_bytes = 16 * max_data_object;
/// Whether `s` may hold `count` more session keys, bringing `size` bytes of
/// certificates or data: its own bounds, and its user's count across the
/// sessions logged in here.
bool session_keys_fit(const node_context& n, const session& s, std::size_t count,
                      std::size_t size = 0);

/// A fresh session key handle of `s`, not `besides` (a pair's other half).
std::int64_t next_session_handle(const session& s, std::int64_t besides);

/// Keeps a generation's keys (`records`, described; `generated`, their
/// material, taken) as `s`'s session keys, owned by its user; `out` is a
/// key_page of their descriptions. internal_error if material does not load.
status keep_session_keys(node_context& n, session& s, std::vector<key_record> records,
                         std::vector<generated_key>& generated, json& out);

/// Key `handle` for `s`: one of its session keys, else the store's.
std::optional<key_record> key_for(const node_context& n, const session& s, std::int64_t handle);

/// The parsed material of `k` (found by key_for): a session key's own, else
/// the store's, parsed and cached (loaded()).
std::optional<loaded_key> loaded_for(node_context& n, const session& s, const key_record& k);

/// destroy_session_key: one of the session's keys, at once. A token key's
/// handle is key_not_found here (a prepared change destroys those).
status destroy_session_key(node_context& n, session& s, const key_handle_request& r, json& out);

} // namespace hsm
