// SPDX-License-Identifier: Apache-2.0
// The requests a node answers, typed: one struct per operation that has
// fields, each with a total decoder (docs/design.md, "Wire protocol").
#pragma once

#include "hsmsh/protocol/keys.hpp"
#include "hsmsh/protocol/payloads.hpp"
#include "hsmsh/protocol/quorum.hpp"
#include "hsmsh/protocol/user_rules.hpp"
#include "hsmsh/protocol/wire.hpp"
#include "hsmsh/sealing.hpp"
#include "hsmsh/secret.hpp"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace hsm {

// Decoding never fails: a field that is absent or of another type is
// recorded as such (nullopt, or `given` without a value), and the node
// refuses it where it refused it before, with the same status, in the
// order its rules run (a request that may not be made at all is refused
// for that first, whatever its fields).

/// A field that may be left out, as given: absent, or present with a value
/// of its type, or present with another (`given` and no value).
template <typename T> struct optional_field {
    bool given = false;
    std::optional<T> value;

    bool malformed() const noexcept { return given && !value; }
};

/// An operation without fields (hello, logout, list_users, ...).
struct no_fields {};

/// The user a request names: its type and its name as given (nullopt when
/// absent, of another type, or, a type, no user type's name).
struct user_named {
    std::optional<user_type> type;
    std::optional<std::string> name;
};

/// Signatures by node, over each node's own challenge ("signatures": {hsm
/// id: hex}): the string entries, and how many entries the object has.
struct node_signatures {
    bool given = false; // an object
    std::size_t count = 0;
    std::map<std::string, std::string> hex;
};

struct login_request {
    user_named user;
    secret password;
};

/// login_2fa.
struct second_factor_request {
    node_signatures signatures;
};

/// Turning two-factor login on: the officer's key and its signatures of the
/// nodes' enrollment challenges ("two_fa").
struct enrollment {
    std::optional<bytes> key; // nullopt: not hex
    node_signatures signatures;
};

/// create_user, delete_user, change_password, register_quorum_key,
/// set_key_quota, directly or prepared.
struct user_change_request {
    operation op = operation::create_user;
    user_named user;
    secret password;
    optional_field<bool> revoke;
    optional_field<enrollment> two_fa;                     // `given`: asked for, an object or not
    std::optional<bytes> quorum_key;                       // register_quorum_key; nullopt: not hex
    std::optional<bytes> token;                            // the registration token
    std::optional<bytes> signature;                        // the token's signature
    optional_field<std::optional<std::int64_t>> key_quota; // null: the node's default
    std::optional<bytes> salt; // a cluster-wide change's salt; nullopt: not hex
};

/// One user a share_key names: by id, or by name (CMU names users by id).
using user_reference = std::variant<std::monostate, std::int64_t, std::string>;

/// insert_keys, sync_key, destroy_key, share_key, set_attribute, prepared.
struct key_change_request {
    std::optional<std::vector<sealed_key>> keys; // insert_keys, sync_key
    std::optional<std::int64_t> handle;
    std::optional<bool> share;
    std::optional<std::vector<user_reference>> users;
    std::optional<std::int64_t> attribute;
    std::optional<std::string> value;
};

/// A quorum service by its number (get_m_value, get_token).
struct service_request {
    std::optional<quorum::service> svc;
};

/// set_m_value, directly or prepared.
struct m_value_request {
    std::optional<quorum::service> svc;
    std::optional<std::int64_t> m;
};

/// sync_user, prepared.
struct user_sync_request {
    std::optional<sealed_user> record;
    bool force = false; // only a boolean true forces
};

/// prepare: a transaction id and the change, decoded by the kind it names
/// (monostate: no change the node prepares).
struct prepare_request {
    std::string txid;
    std::string change;
    std::optional<std::string> name; // the user named, as given (the audit row's target)
    secret password;                 // a user change's; moved into `what` by the node
    std::variant<std::monostate, user_change_request, key_change_request, m_value_request,
                 user_sync_request>
        what;
};

/// commit, abort, tx_status.
struct transaction_request {
    operation op = operation::commit;
    std::string txid;
    // tx_status: the keys a committed insertion left, 1 or 2 handles; else nullopt.
    std::optional<std::vector<std::int64_t>> handles;
    // tx_status from a peer about to commit: answering "prepared" binds the
    // answering node not to abort the change while a peer may commit it.
    bool vouch = false;
};

/// announce_peers: the announcement, read by peer_list.
struct peer_announcement_request {
    json announcement;
};

struct generate_key_request {
    std::optional<std::string> spec_name;
    std::optional<key_spec> spec;
    std::string label;
    std::string id;                 // hex
    std::optional<json> attributes; // flags, read by flags_from_json (keys.hpp)
    // A session key (PKCS#11 CKA_TOKEN false): absent is false; nullopt
    // when the field is there and not a boolean.
    std::optional<bool> session = false;
};

/// import_key: key material from outside, as a node generates it: a
/// secret key's raw bytes, a private key's DER (PKCS#8, or PKCS#1 and
/// SEC 1's own forms), a public key's SubjectPublicKeyInfo DER.
struct import_key_request {
    std::optional<key_class> cls;
    std::optional<key_type> type;
    secret material_hex; // empty when absent or not a string
    std::string label;
    std::string id;                 // hex
    std::optional<json> attributes; // flags, read by flags_from_json (keys.hpp)
    std::optional<bool> session = false;
};

/// The most material an import carries: a data object's (a certificate
/// is at most 16 KiB, an RSA-4096 private key's DER about 2.4 KB).
inline constexpr std::size_t max_key_material = max_data_object;

/// wrap_key: key `key` encrypted under the wrapping key `handle`.
struct wrap_key_request {
    std::optional<std::int64_t> handle; // the wrapping key
    std::optional<std::int64_t> key;    // the key wrapped
    std::optional<mechanism> mech;
    std::optional<bytes> aad; // GCM's; empty when absent, nullopt: not hex, or too long
};

/// unwrap_key: the key `data` holds, unwrapped by key `handle`, then as an
/// import_key of that class and type (a secret key's bytes, a private key's
/// PKCS#8 DER).
struct unwrap_key_request {
    std::optional<std::int64_t> handle; // the unwrapping key
    std::optional<mechanism> mech;
    std::optional<bytes> data; // the wrapped key; nullopt: absent, not hex, or too long
    std::optional<bytes> aad;
    std::optional<key_class> cls;
    std::optional<key_type> type;
    std::string label;
    std::string id;                 // hex
    std::optional<json> attributes; // flags, read by flags_from_json (keys.hpp)
    std::optional<bool> session = false;
};

/// The largest wrapped key: an RSA-4096 private key's PKCS#8 DER (about
/// 2.4 KB), wrapped, with room to spare.
inline constexpr std::size_t max_wrapped_key = 8 * 1024;

/// derive_key: a secret key from ECDH of EC private key `handle` with the
/// peer's public point (uncompressed), through a key derivation function:
/// "null" (the shared secret's last `value_len` bytes) or ANSI X9.63's with
/// "sha1", "sha224", "sha256", "sha384" or "sha512" over `shared` data.
struct derive_key_request {
    std::optional<std::int64_t> handle; // the EC private key
    std::optional<bytes> point;         // nullopt: absent, not hex, or too long
    std::string kdf;
    std::optional<bytes> shared; // empty when absent
    std::optional<key_class> cls;
    std::optional<key_type> type;
    std::optional<std::int64_t> value_len; // bytes
    std::string label;
    std::string id;                 // hex
    std::optional<json> attributes; // flags, read by flags_from_json (keys.hpp)
    std::optional<bool> session = false;
};

/// The longest ECDH public point (P-384 uncompressed: 97 bytes) and shared data.
inline constexpr std::size_t max_public_point = 97;
inline constexpr std::size_t max_shared_data = 1024;

struct find_keys_request {
    std::optional<std::int64_t> user;
    bool hash = false; // only a boolean true asks for it
};

/// get_key, get_sealed_key.
struct key_handle_request {
    std::optional<std::int64_t> handle;
};

struct list_keys_request {
    std::int64_t after = 0;
};

/// sign, verify, encrypt, decrypt.
struct key_use_request {
    operation op = operation::sign;
    std::optional<std::int64_t> handle;
    std::optional<mechanism> mech;
    std::optional<bytes> data;      // nullopt: absent, not hex, or too long
    std::optional<bytes> signature; // idem
    bool iv = false;                // an IV was given (the node chooses every IV)
    std::optional<bytes> aad;       // empty when absent; nullopt: not hex, or too long
    /// An HMAC's length in bytes ("mac_length", PKCS#11's _GENERAL forms):
    /// 0 when absent (the whole MAC); nullopt when given but not an integer.
    std::optional<std::int64_t> mac_length = 0;
};

struct random_request {
    std::optional<std::int64_t> count;
};

/// One approval of approve_token: who, and the signature (nullopt: not hex).
struct token_approval_entry {
    std::optional<std::string> name;
    std::optional<bytes> signature;
};

struct approve_token_request {
    std::string tokens;                                         // the token file, hex
    std::optional<std::vector<token_approval_entry>> approvals; // nullopt: no array
};

struct delete_token_request {
    bool names_tokens = false; // else all the session's tokens
    std::string tokens;        // the token file, hex
};

// One decoder per request: fills `out` from `fields` (its `op` set before).
void decode_fields(const json& fields, no_fields& out);
void decode_fields(const json& fields, user_named& out);
void decode_fields(const json& fields, login_request& out);
void decode_fields(const json& fields, second_factor_request& out);
void decode_fields(const json& fields, user_change_request& out);
void decode_fields(const json& fields, key_change_request& out);
void decode_fields(const json& fields, service_request& out);
void decode_fields(const json& fields, m_value_request& out);
void decode_fields(const json& fields, user_sync_request& out);
void decode_fields(const json& fields, prepare_request& out);
void decode_fields(const json& fields, transaction_request& out);
void decode_fields(const json& fields, peer_announcement_request& out);
void decode_fields(const json& fields, generate_key_request& out);
void decode_fields(const json& fields, import_key_request& out);
void decode_fields(const json& fields, wrap_key_request& out);
void decode_fields(const json& fields, unwrap_key_request& out);
void decode_fields(const json& fields, derive_key_request& out);
void decode_fields(const json& fields, find_keys_request& out);
void decode_fields(const json& fields, key_handle_request& out);
void decode_fields(const json& fields, list_keys_request& out);
void decode_fields(const json& fields, key_use_request& out);
void decode_fields(const json& fields, random_request& out);
void decode_fields(const json& fields, approve_token_request& out);
void decode_fields(const json& fields, delete_token_request& out);

/// Decodes `fields` into R (one without an operation or a password).
template <typename R> R decoded(const json& fields) {
    R out{};
    decode_fields(fields, out);
    return out;
}

/// Decodes the fields of a request `op` into R; never throws but for
/// memory. `password`, taken out of the fields by the node, moves into a
/// request that carries one (and stays where it is for the others).
template <typename R> R decode_request(operation op, const json& fields, secret& password) {
    R out{};
    if constexpr (requires { out.op; }) out.op = op;
    decode_fields(fields, out);
    if constexpr (requires { out.password; }) out.password = std::move(password);
    return out;
}

} // namespace hsm
