// SPDX-License-Identifier: Apache-2.0
// Keys: generated for a crypto user and sealed for the cluster, found and
// described, used by their owners and the users they are shared with
// (keys.cpp); inserted, synced, destroyed and shared as prepared changes
// whose rules hold at prepare and at commit (key_changes.cpp).
#pragma once

#include "changes/key_change.hpp"
#include "crypto/key_crypto.hpp"
#include "hsmsh/protocol/keys.hpp"
#include "node_context.hpp"
#include "store/key_record.hpp"

#include <optional>
#include <string>
#include <utility>

namespace hsm {

key_actor key_actor_for(const session& s, const key_record& k);
std::string key_digest(const node_context& n, const key_record& k);
awaitable<status> generate_keys(node_context& n, session& s, generate_key_request r, json& out);
/// import_key: a key from outside, checked, then as generate_keys: kept for
/// the session, or sealed for a prepare to insert. CKA_LOCAL false.
awaitable<status> import_keys(node_context& n, session& s, import_key_request r, json& out);
/// What comes in from outside (import_key, unwrap_key): its class and type,
/// names and flags (checked by the caller), and whether the session keeps it.
struct incoming_key {
    key_class cls = key_class::secret_key;
    key_type type = key_type::aes;
    const std::string& label;
    const std::string& id; // hex
    key_flags flags;
    bool in_session = false;
};
/// A key brought in's flags (import_key, unwrap_key): its class's defaults
/// as a key never generated here (CKA_LOCAL, CKA_ALWAYS_SENSITIVE,
/// CKA_NEVER_EXTRACTABLE false), then `attributes`, which may not claim
/// otherwise nor trust it; nullopt when they do, or are no flags.
std::optional<key_flags> brought_in_flags(key_class c, key_type t,
                                          const std::optional<json>& attributes);
/// Checks `given` as a key of that class and type (import_key_material on
/// the key-work pool, taking its turn with generations), then hands it over
/// as generate_keys does: kept for the session, or sealed for a prepare to
/// insert. attribute_invalid when it is no such key.
awaitable<status> bring_in(node_context& n, session& s, incoming_key what, key_material& given,
                           json& out);
/// 31 bits from OpenSSL's CSPRNG: a key handle's draw (0 possible).
std::int64_t random_handle();
std::int64_t next_key_handle(const node_context& n, std::int64_t besides);
status find_keys(node_context& n, session& s, const find_keys_request& r, json& out);
key_summary summary_of(const node_context& n, const key_record& k);
/// A data object's bytes in `out` (its "public" part), unsealed: for its
/// owner and the users it is shared with alone. Other objects: nothing.
void with_data_bytes(node_context& n, const session& s, const key_record& k, key_summary& out);
status get_key(node_context& n, session& s, const key_handle_request& r, json& out);
status list_keys(node_context& n, session& s, const list_keys_request& r, json& out);
awaitable<status> use_key(node_context& n, session& s, key_use_request r, json& out);
status get_sealed_key(node_context& n, session& s, const key_handle_request& r, json& out);
std::optional<loaded_key> loaded(node_context& n, const key_record& k);
status random(node_context& n, session& s, const random_request& r, json& out);

std::pair<status, key_change> plan_key_change(node_context& n, session& s, key_change::kind kind,
                                              const key_change_request& r);
std::string material_digest(const node_context& n, const key_material& m);
status rules_hold(const node_context& n, const key_change& c, bool decided = false);
status insert_rules(const node_context& n, const key_change& c, const user_record& actor);
status sync_rules(const node_context& n, const key_change& c, const user_record& actor);
bool same_description(const node_context& n, const key_record& held, const key_contents& copy);
std::pair<status, key_record> changed_attributes(const key_record& k, const key_actor& who,
                                                 std::uint32_t id, const std::string& value);
void apply_key_change(node_context& n, const key_change& c);

} // namespace hsm
