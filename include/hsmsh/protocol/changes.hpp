// SPDX-License-Identifier: Apache-2.0
// What a prepare carries besides users' own changes, typed: a key inserted,
// copied, destroyed, shared or changed; a quorum m value; a user's record
// synchronised. One encoder for every client (the shell, the PKCS#11
// module) and one total decoder (docs/design.md, "Wire protocol").
#pragma once

#include "hsmsh/protocol/payloads.hpp"
#include "hsmsh/protocol/quorum.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace hsm {

/// New keys, generated on one node, inserted on every node (insert_keys).
struct key_insertion {
    std::vector<sealed_key> keys;
};

/// A key as its source holds it, replacing what the destination holds
/// (sync_key); the key is its first entry's handle.
struct key_copy {
    std::vector<sealed_key> keys;
};

/// destroy_key.
struct key_destruction {
    std::int64_t handle = 0;
};

/// share_key: users by their id on the node (CMU's form).
struct key_sharing {
    std::int64_t handle = 0;
    std::vector<std::int64_t> users;
    bool share = true; // else unshare
};

/// set_attribute: CMU's attribute id and its value ("0", "1", or a label).
struct key_attribute_change {
    std::int64_t handle = 0;
    std::uint32_t attribute = 0;
    std::string value;
};

/// set_m_value: a service's new m.
struct m_value_change {
    quorum::service svc = quorum::service::user_mgmt;
    int m = 1;
};

/// sync_user: a user's record sealed by a node of the cluster; `force`
/// replaces a newer one.
struct user_sync {
    sealed_user record;
    bool force = false;
};

using change_request = std::variant<key_insertion, key_copy, key_destruction, key_sharing,
                                    key_attribute_change, m_value_change, user_sync>;

/// The change's name on the wire ("insert_keys", "set_m_value", ...).
std::string_view change_request_name(const change_request& c) noexcept;

/// The prepare's fields for `c`, the transaction id apart.
json to_fields(const change_request& c);

/// Decodes a prepare's fields: nullopt unless "change" names one of these
/// kinds and every field it needs is there with its type. Ranges (a key
/// label's length, m's bounds, who the users are) are the node's rules.
std::optional<change_request> change_request_from(const json& fields);

} // namespace hsm
