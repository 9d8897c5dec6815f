// SPDX-License-Identifier: Apache-2.0
// What crosses the wire inside replies, typed: one encoder and one decoder
// each, used by the node and the shell alike (docs/design.md, "Wire protocol").
#pragma once

#include "hsmsh/protocol/keys.hpp"
#include "hsmsh/protocol/user_rules.hpp"
#include "hsmsh/protocol/wire.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace hsm {

/// The state of a node in the cluster life cycle.
enum class cluster_state { uninitialized, initialized, active, degraded };

std::string_view cluster_state_name(cluster_state s) noexcept;
std::optional<cluster_state> cluster_state_from_name(std::string_view name) noexcept;

/// One user as listUsers shows it: no secret, and a keyed digest of the
/// stored record so that servers can be compared. The type is the name the
/// node gave: the shell shows it (escaped) and never acts on it.
struct user_summary {
    std::int64_t id = 0;
    std::string type;
    std::string name;
    bool mofn = false;
    std::int64_t failures = 0;
    bool two_fa = false;
    std::int64_t version = 0;
    std::string digest;
    // A crypto user's: the keys it may own on this node (an officer's
    // setKeyQuota, else the node's --key-quota).
    std::optional<std::int64_t> key_quota;

    friend bool operator==(const user_summary&, const user_summary&) = default;
};

/// A list_users reply: its header and its users.
struct user_list_reply {
    std::uint64_t id = 0;
    status code = status::ok;
    std::vector<user_summary> users;
};

/// The fields of a list_users reply.
json to_json(const std::vector<user_summary>& users);

/// Decodes a whole list_users reply body without building a tree: the
/// listing is the shell's hot path, once per server and command. Total, as
/// decode_reply is: any other shape yields a decode_error.
std::variant<user_list_reply, decode_error> decode_user_list_reply(std::string_view body) noexcept;

/// A node's description of itself (hsm_info).
struct hsm_info {
    std::string hsm_id;
    std::string cluster_id;
    std::string state; // a cluster_state_name, as the node said it
    std::string model;
    std::string serial_number;
    std::string firmware;
    std::int64_t users = 0;
    std::int64_t max_users = 0;
    std::string kdf;
    std::string certificate_fingerprint;
    std::string audit_head;
    std::vector<std::string> peers;
};

json to_json(const hsm_info& info);
/// Nullopt unless `fields` is an object; fields missing or of another type
/// read as empty (the description is shown, never acted on).
std::optional<hsm_info> hsm_info_from(const json& fields);

/// A user's stored record sealed for the cluster's nodes (get_user), with
/// the clear attributes the shell shows beside it.
struct sealed_user {
    std::string name;
    user_type type = user_type::cu;
    std::int64_t version = 0;
    std::string sealed; // hex
};

json to_json(const sealed_user& record);
std::optional<sealed_user> sealed_user_from(const json& record);

/// A change prepared on a node and waiting for its commit (list_prepared).
struct prepared_entry {
    std::string txid;
    std::string user;
    std::string change;           // a planned change's kind, as the node names it
    std::string actor;            // who prepared it
    std::int64_t deadline_ms = 0; // when the node resolves it by itself (Unix ms)
};

/// The fields of a list_prepared reply.
json to_json(const std::vector<prepared_entry>& entries);
/// Entries that are objects; missing or mistyped fields read as empty (shown,
/// never acted on). Nothing when `fields` has no "prepared" array.
std::vector<prepared_entry> prepared_entries_from(const json& fields);

/// A hello reply: what a node says of itself before anything else.
struct hello_reply {
    std::int64_t version = 0;
    std::string cluster_id;
    std::string hsm_id;
    std::string state;
};

json to_json(const hello_reply& h);
/// A field missing or of another type reads as empty (0): the caller
/// checks the version and the cluster.
hello_reply hello_reply_from(const json& fields);

/// The bytes of a sign, encrypt, decrypt or random reply ({"data": hex});
/// nullopt when missing, not a string or not hex.
std::optional<std::vector<std::uint8_t>> reply_data(const json& fields);

/// One key as get_key describes it: never its material.
struct key_summary {
    std::int64_t handle = 0;
    key_class cls = key_class::secret_key;
    key_type type = key_type::aes;
    int bits = 0;
    std::string label;
    std::string id; // hex
    key_flags flags;
    std::int64_t owner = 0; // the owner's user id on that node
    std::string owner_name;
    std::vector<std::int64_t> shared; // user ids on that node
    std::string digest;               // keyed, equal on nodes holding the same key
    std::string public_key;           // SubjectPublicKeyInfo DER as hex; empty for secret keys
    bool token = true; // false: a session key, on one node for one login (PKCS#11 CKA_TOKEN)
};

json to_json(const key_summary& k);
/// Nullopt unless every field is there with its type and a known class and type.
std::optional<key_summary> key_summary_from(const json& j);

/// A list_keys reply: a page of the keys a crypto user owns or shares.
struct key_page {
    std::vector<key_summary> keys;
    bool more = false; // another page follows
};

json to_json(const key_page& page);
/// Nullopt unless `fields` has a "keys" array; entries that do not decode
/// are left out, and a missing or mistyped "more" reads as the last page.
std::optional<key_page> key_page_from(const json& fields);

/// One key sealed for the cluster's nodes under the handle it has (or will
/// have): what generate_key and get_sealed_key send, and what a prepared
/// insert_keys or sync_key change brings back. Clients carry it unread.
struct sealed_key {
    std::int64_t handle = 0;
    key_class cls = key_class::secret_key;
    std::string sealed; // hex

    friend bool operator==(const sealed_key&, const sealed_key&) = default;
};

/// The keys of one generation or copy: a pair, or one key.
inline constexpr std::size_t max_sealed_keys = 2;

/// The fields {"keys": [...]} of those replies and changes.
json to_json(const std::vector<sealed_key>& keys);
/// Nullopt unless `fields` has a "keys" array of 1 to max_sealed_keys
/// entries, each with a positive handle, a known class and a hex string.
std::optional<std::vector<sealed_key>> sealed_keys_from(const json& fields);

/// One entry of a find_keys reply.
struct found_key {
    std::int64_t handle = 0;
    bool owned = false; // owned, else shared with the user
};

/// A find_keys reply: the handles, and the keyed hash of all these keys
/// (empty when there are none), equal on servers that agree.
struct found_keys {
    std::vector<found_key> keys;
    std::string hash;
};

json to_json(const found_keys& f);
std::optional<found_keys> found_keys_from(const json& j);

} // namespace hsm
