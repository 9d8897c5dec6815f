// SPDX-License-Identifier: Apache-2.0
// Status codes that travel on the wire in every reply, with CMU's names.
#pragma once

#include <optional>
#include <string_view>
#include <system_error>

namespace hsm {

/// A node's answer to a request. Names follow CMU where CMU has one.
enum class status {
    ok,
    user_login_failure, // unknown user, wrong password and locked account alike
    user_exists,
    user_not_found,
    permission_denied,
    not_logged_in,
    already_logged_in,
    user_logged_in, // the target user is logged in elsewhere
    user_owns_keys,
    last_co,
    password_policy,
    invalid_user_name,
    invalid_user_type,
    quota_exceeded,
    cluster_not_active,
    conflict,      // another prepared change holds the user
    version_newer, // syncUser would overwrite a newer record
    tx_unknown,
    tx_aborted,
    tx_committed,
    bad_request,
    unsupported_version,
    storage_failure,
    internal_error,
    user_change_pending,        // right password, but a prepared change of the user is pending
    busy,                       // the node's budget for clients not logged in is spent
    key_not_found,              // no such key, or one the user may not see
    key_function_not_permitted, // the key's attributes forbid this use
    mechanism_invalid,          // the mechanism does not fit the key or the use
    attribute_read_only,
    attribute_invalid,
    signature_invalid,
    encrypted_data_invalid,
    key_limit_exceeded,
    key_not_shareable,      // public keys: every crypto user may use them already
    key_unavailable,        // a new key would be on fewer nodes than the availability rule asks
    key_destroyed,          // that handle's key was destroyed here: never inserted again
    quorum_key_invalid,     // registerQuorumPubKey: not an RSA-2048 public key
    quorum_key_in_use,      // registerQuorumPubKey: another user registered that key
    mxn_auth_failed,        // a quorum-protected change without an approved token (CMU's name)
    m_value_invalid,        // an m value out of range, or one the officers could not meet
    token_not_found,        // no such quorum token of this session (gone, used or expired)
    token_limit_exceeded,   // the session or the node holds all the tokens it may
    two_factor_required,    // right password; now the signature over the challenge sent
    two_factor_invalid,     // enrollment: no live challenge, or a signature that does not verify
    key_mismatch,           // a sync would put another key, or another owner, under a handle
    key_generation_expired, // a generated key waited too long for its insertion
    key_quota_exceeded,     // the user owns as many keys as a user may
    token_file_invalid,     // a token file asking for more than one token of one service here
    not_on_every_node,      // a key's attributes change on every node or on none: one lacks it
    key_unextractable,      // wrap_key: the key is not extractable
    key_not_wrappable,      // wrap_key: not the caller's to take, or not under that key
    wrapped_key_invalid,    // unwrap_key: what the blob holds is no key of that class and type
};

/// The wire and display name, e.g. "RET_USER_EXISTS".
std::string_view status_name(status s) noexcept;

/// Parses a wire name; nullopt for names this build does not know.
std::optional<status> status_from_name(std::string_view name) noexcept;

/// One sentence for humans, never containing request data.
std::string_view status_description(status s) noexcept;

const std::error_category& status_category() noexcept;
std::error_code make_error_code(status s) noexcept;

} // namespace hsm

template <> struct std::is_error_code_enum<hsm::status> : std::true_type {};
