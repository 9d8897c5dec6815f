// SPDX-License-Identifier: Apache-2.0
// A validated key change, ready to apply: what a prepare of a key change
// records and its commit applies (docs/design.md, "Keys").
#pragma once

#include "hsmsh/protocol/user_rules.hpp"
#include "hsmsh/protocol/wire.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace hsm {

struct key_change {
    enum class kind { insert_keys, sync_key, destroy_key, share_key, set_attribute };
    kind what = kind::insert_keys;
    std::vector<std::int64_t> handles; // insert: the new keys; else the one key
    std::vector<std::string> sealed;   // insert, sync: each key sealed for the cluster (hex)
    std::vector<std::string> users;    // share: canonical names
    bool share = true;                 // share_key: share (true) or unshare
    std::uint32_t attribute = 0;       // set_attribute: CMU's id
    std::string value;                 // set_attribute: "0", "1", or a label
    // Who asked, as authenticated then: a commit checks it again.
    std::int64_t actor_id = 0;
    std::int64_t actor_generation = 0;
    user_type actor_type = user_type::cu;

    /// Handles positive and distinct, one to two keys to insert (a pair), one
    /// to sync, sealed keys hex, at most max_key_shares names, each valid.
    bool well_formed() const noexcept;

    /// What the prepared row holds: "key <first handle>" (never a user name).
    std::string subject() const;
    std::string_view kind_name() const noexcept;

    json to_json() const;
    /// Nullopt for anything that is not a well-formed key change.
    static std::optional<key_change> from_json(const json& j);
    static std::optional<key_change> from_stored(std::string_view text);
};

std::string_view key_change_name(key_change::kind k) noexcept;
std::optional<key_change::kind> key_change_from_name(std::string_view name) noexcept;

} // namespace hsm
