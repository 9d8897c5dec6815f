// SPDX-License-Identifier: Apache-2.0
// The wire format: length-prefixed frames carrying JSON requests and replies.
#pragma once

#include "hsmsh/protocol/status.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

#include <nlohmann/json.hpp>

namespace hsm {

using json = nlohmann::json;

inline constexpr std::uint32_t protocol_version = 1;

/// Largest message body a peer may announce; checked before allocating.
inline constexpr std::size_t max_frame_size = 256 * 1024;
inline constexpr std::size_t frame_header_size = 4;

enum class operation {
    hello,
    login,
    logout,
    list_users,
    create_user,
    delete_user,
    change_password,
    hsm_info,
    describe_cluster,
    prepare, // phase 1 of a cluster-wide change
    commit,  // phase 2
    abort,
    tx_status,      // what became of a prepared change (peers ask this)
    get_user,       // a user's stored record, sealed, for syncUser
    list_prepared,  // the prepared changes waiting for their commit
    announce_peers, // a node tells a peer where it and the nodes it knows listen
    generate_key,   // new key material, sealed for the cluster, for a prepare to insert
    find_keys,      // the keys a user owns or shares (findAllKeys)
    get_key,        // one key's description (getKeyInfo, getAttribute)
    sign,
    verify,
    encrypt,
    decrypt,
    random,              // bytes from the node's generator
    get_sealed_key,      // a key as it is now, sealed for the cluster (syncKey)
    list_keys,           // the keys a crypto user owns or shares, described, a page at a time
    register_quorum_key, // an officer's own RSA-2048 key for quorum approvals
    get_m_value,         // a service's quorum minimum
    set_m_value,         // a service's quorum minimum, changed (quorum-protected by service 4)
    get_token,           // a quorum token for the session, this node's record of it
    approve_token,       // signatures over a token file, checked against registered keys
    list_tokens,         // the session's quorum tokens
    delete_token,        // one of the session's quorum tokens, or all of them
    login_2fa,           // a login's second step: the signature over the node's challenge
    get_2fa_challenge,   // a challenge whose signature proves a new 2FA key (enrollment)
    set_key_quota,       // how many keys a crypto user may own (an officer's, quorum-protected)
    destroy_session_key, // one of the session's own keys (PKCS#11 CKA_TOKEN false), at once
    import_key,          // key material brought in, checked and sealed as generate_key's
    wrap_key,            // a key its owner may take away, encrypted under another key
    unwrap_key,          // a wrapped key brought in, checked and sealed as import_key's
    derive_key,          // a secret key from ECDH with a private key, sealed as import_key's
};

/// Each operation and its name on the wire, in the enum's order: a new
/// operation is a value of the enum and a row here (the node's operation
/// table counts its rows from this one).
inline constexpr auto operation_names = std::to_array<std::pair<operation, std::string_view>>({
    {operation::hello, "hello"},
    {operation::login, "login"},
    {operation::logout, "logout"},
    {operation::list_users, "list_users"},
    {operation::create_user, "create_user"},
    {operation::delete_user, "delete_user"},
    {operation::change_password, "change_password"},
    {operation::hsm_info, "hsm_info"},
    {operation::describe_cluster, "describe_cluster"},
    {operation::prepare, "prepare"},
    {operation::commit, "commit"},
    {operation::abort, "abort"},
    {operation::tx_status, "tx_status"},
    {operation::get_user, "get_user"},
    {operation::list_prepared, "list_prepared"},
    {operation::announce_peers, "announce_peers"},
    {operation::generate_key, "generate_key"},
    {operation::find_keys, "find_keys"},
    {operation::get_key, "get_key"},
    {operation::sign, "sign"},
    {operation::verify, "verify"},
    {operation::encrypt, "encrypt"},
    {operation::decrypt, "decrypt"},
    {operation::random, "random"},
    {operation::get_sealed_key, "get_sealed_key"},
    {operation::list_keys, "list_keys"},
    {operation::destroy_session_key, "destroy_session_key"},
    {operation::import_key, "import_key"},
    {operation::wrap_key, "wrap_key"},
    {operation::unwrap_key, "unwrap_key"},
    {operation::derive_key, "derive_key"},
    {operation::register_quorum_key, "register_quorum_key"},
    {operation::get_m_value, "get_m_value"},
    {operation::set_m_value, "set_m_value"},
    {operation::get_token, "get_token"},
    {operation::approve_token, "approve_token"},
    {operation::list_tokens, "list_tokens"},
    {operation::delete_token, "delete_token"},
    {operation::login_2fa, "login_2fa"},
    {operation::get_2fa_challenge, "get_2fa_challenge"},
    {operation::set_key_quota, "set_key_quota"},
});

std::string_view operation_name(operation op) noexcept;
std::optional<operation> operation_from_name(std::string_view name) noexcept;

/// A client's request. `fields` is always a JSON object.
struct request {
    std::uint32_t version = protocol_version;
    std::uint64_t id = 0;
    operation op = operation::hello;
    json fields = json::object();
};

/// A node's reply to the request with the same id.
struct reply {
    std::uint64_t id = 0;
    status code = status::ok;
    json fields = json::object();
};

/// Why a byte string is not a message. Decoding never throws.
enum class decode_error {
    empty,
    too_large,
    not_json,
    not_object,
    missing_field,
    wrong_type,
    unknown_operation,
    unknown_status,
    too_deep,
};

/// Deepest nesting of objects and arrays a message may have: every message
/// of the protocol fits in 4; 8 leaves room to grow.
inline constexpr std::size_t max_json_depth = 8;

/// True when `text` nests objects and arrays deeper than `limit`, found by
/// one scan that builds nothing (strings and escapes taken into account).
bool json_depth_exceeds(std::string_view text, std::size_t limit) noexcept;

std::string_view decode_error_name(decode_error e) noexcept;

using request_or_error = std::variant<request, decode_error>;
using reply_or_error = std::variant<reply, decode_error>;

/// Total decoders: every byte string yields a message or a typed error.
request_or_error decode_request(std::string_view body) noexcept;
reply_or_error decode_reply(std::string_view body) noexcept;

std::string encode(const request& r);
std::string encode(const reply& r);

/// The 4-byte big-endian length header for a body of `size` bytes.
std::array<std::uint8_t, frame_header_size> encode_frame_header(std::size_t size) noexcept;

/// The announced body size, or nullopt when it is zero or above max_frame_size.
std::optional<std::size_t>
decode_frame_header(std::span<const std::uint8_t, frame_header_size> header) noexcept;

/// A transaction id of a two-phase change: 32 lower-case hex digits.
bool valid_txid(std::string_view txid) noexcept;

/// Wipes the "password" field of `fields` in place, if there is one.
void wipe_password(json& fields) noexcept;
/// Wipes the "data" field of a key operation's request in place (a
/// plaintext, say) and the "material" of an import_key, if there are.
void wipe_data(json& fields) noexcept;

/// Typed access to request fields; nullopt when absent or of another type.
std::optional<std::string> string_field(const json& fields, std::string_view key);
std::optional<std::int64_t> integer_field(const json& fields, std::string_view key);
std::optional<bool> bool_field(const json& fields, std::string_view key);

} // namespace hsm
