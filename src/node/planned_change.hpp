// SPDX-License-Identifier: Apache-2.0
// A validated user change, ready to apply: what a prepare records and a
// commit applies, and how a node resolves a prepared change left in doubt.
#pragma once

#include "hsmsh/kdf.hpp"
#include "hsmsh/user_rules.hpp"
#include "hsmsh/wire.hpp"

#include <optional>
#include <span>
#include <string>

namespace hsm {

struct planned_change {
    enum class kind { create_user, delete_user, change_password, sync_user, nothing };
    kind what = kind::nothing;
    std::string name; // canonical user name
    user_type type = user_type::cu;
    std::optional<password_hash> hash;
    std::int64_t version = 0; // sync_user: the record's version
    int failures = 0;         // sync_user: its lock state
    bool activation = false;  // change_password of the PRECO

    json to_json() const;
    /// Nullopt for anything that is not a well-formed change.
    static std::optional<planned_change> from_json(const json& j);
};

std::string_view change_kind_name(planned_change::kind k) noexcept;

/// What a peer said of a prepared change.
enum class peer_answer { committed, aborted, prepared, unknown, unreachable };

enum class resolution { commit, abort, wait };

/// The rule for a prepared change past its deadline: commit if any peer
/// committed it; wait while a peer that might have is unreachable (until
/// `give_up`); abort otherwise (the shell commits only once all prepared,
/// so no committed peer means nobody committed).
resolution resolve_prepared(std::span<const peer_answer> answers, bool give_up) noexcept;

/// A digest of a stored user record (type, version, lock state, salted
/// hash): equal records give equal digests; nothing of the password shows.
std::string record_digest(std::string_view name, user_type type, std::int64_t version, bool locked,
                          const password_hash& hash);

std::string to_hex(const std::vector<std::uint8_t>& bytes);
std::optional<std::vector<std::uint8_t>> from_hex(std::string_view text);

} // namespace hsm
