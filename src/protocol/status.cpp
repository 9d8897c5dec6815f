// SPDX-License-Identifier: Apache-2.0
// Names and descriptions of the wire status codes.
#include "hsmsh/protocol/status.hpp"

#include <array>
#include <string>

namespace hsm {
namespace {

struct status_info {
    status code;
    std::string_view name;
    std::string_view description;
};

constexpr std::array status_table{
    status_info{status::ok, "RET_OK", "success"},
    status_info{status::user_login_failure, "RET_USER_LOGIN_FAILURE",
                "login failed: unknown user, wrong password or locked account"},
    status_info{status::user_exists, "RET_USER_EXISTS", "a user with that name already exists"},
    status_info{status::user_not_found, "RET_USER_NOT_FOUND", "no such user"},
    status_info{status::permission_denied, "RET_PERMISSION_DENIED",
                "the logged-in user may not do this"},
    status_info{status::not_logged_in, "RET_NOT_LOGGED_IN", "log in first"},
    status_info{status::already_logged_in, "RET_ALREADY_LOGGED_IN",
                "this session is already logged in"},
    status_info{status::user_logged_in, "RET_USER_LOGGED_IN",
                "the user is logged in and cannot be changed now"},
    status_info{status::user_owns_keys, "RET_USER_OWNS_KEYS",
                "a crypto user who owns keys cannot be deleted"},
    status_info{status::last_co, "RET_LAST_CO", "the last crypto officer cannot be deleted"},
    status_info{status::password_policy, "RET_PASSWORD_POLICY",
                "passwords are 7 to 128 bytes without control characters"},
    status_info{status::invalid_user_name, "RET_INVALID_USER_NAME",
                "user names are 1 to 31 letters, digits or underscores"},
    status_info{status::invalid_user_type, "RET_INVALID_USER_TYPE",
                "wrong or unsupported user type"},
    status_info{status::quota_exceeded, "RET_QUOTA_EXCEEDED", "the node holds 1024 users already"},
    status_info{status::cluster_not_active, "RET_CLUSTER_NOT_ACTIVE",
                "the cluster is not active yet: change the PRECO password first"},
    status_info{status::conflict, "RET_CONFLICT",
                "another change of this user is in progress; nothing was changed"},
    status_info{status::version_newer, "RET_VERSION_NEWER",
                "the destination holds a newer version of the user or key"},
    status_info{status::tx_unknown, "RET_TX_UNKNOWN", "no such prepared change"},
    status_info{status::tx_aborted, "RET_TX_ABORTED", "the prepared change was aborted"},
    status_info{status::tx_committed, "RET_TX_COMMITTED", "the change was committed already"},
    status_info{status::bad_request, "RET_BAD_REQUEST", "malformed request"},
    status_info{status::unsupported_version, "RET_UNSUPPORTED_VERSION",
                "protocol version not supported"},
    status_info{status::storage_failure, "RET_STORAGE_FAILURE",
                "the node could not store the change"},
    status_info{status::internal_error, "RET_INTERNAL_ERROR", "internal error on the node"},
    status_info{status::user_change_pending, "RET_USER_CHANGE_PENDING",
                "a change of this user is being made on the cluster: log in when it is done"},
    status_info{status::busy, "RET_BUSY", "the node is busy with other logins: try again"},
    status_info{status::key_not_found, "RET_INVALID_HANDLE",
                "no key with that handle that this user may see"},
    status_info{status::key_function_not_permitted, "RET_KEY_FUNCTION_NOT_PERMITTED",
                "the key's attributes do not allow this use"},
    status_info{status::mechanism_invalid, "RET_MECHANISM_INVALID",
                "the mechanism does not fit this key or this use"},
    status_info{status::attribute_read_only, "RET_ATTRIBUTE_READ_ONLY",
                "this attribute cannot be changed"},
    status_info{status::attribute_invalid, "RET_ATTRIBUTE_INVALID",
                "unknown attribute, or a value it cannot take"},
    status_info{status::signature_invalid, "RET_SIGNATURE_INVALID",
                "the signature does not verify"},
    status_info{status::encrypted_data_invalid, "RET_ENCRYPTED_DATA_INVALID",
                "the ciphertext does not decrypt under this key"},
    status_info{status::key_limit_exceeded, "RET_KEY_LIMIT_EXCEEDED",
                "the node holds 3300 keys already"},
    status_info{status::key_unavailable, "RET_KEY_UNAVAILABLE",
                "a new key must be on at least two nodes of the cluster"},
    status_info{status::key_destroyed, "RET_KEY_DESTROYED",
                "that key was destroyed on this node and is never inserted again"},
    status_info{status::key_not_shareable, "RET_KEY_NOT_SHAREABLE",
                "public keys (every crypto user may use them) and data objects are not shared"},
    status_info{status::quorum_key_invalid, "RET_QUORUM_KEY_INVALID",
                "a quorum key is an RSA-2048 public key"},
    status_info{status::quorum_key_in_use, "RET_QUORUM_KEY_IN_USE",
                "another user registered this public key"},
    status_info{status::mxn_auth_failed, "RET_MXN_AUTH_FAILED",
                "the change needs a quorum token approved by m crypto officers"},
    status_info{status::m_value_invalid, "RET_M_VALUE_INVALID",
                "m is 1, or 2 to 8 and at most the crypto officers; service 3's at most "
                "service 4's; and no deletion may leave fewer officers than an m value"},
    status_info{status::token_not_found, "RET_TOKEN_NOT_FOUND",
                "no such quorum token in this session: used, deleted, expired or another's"},
    status_info{status::token_limit_exceeded, "RET_TOKEN_LIMIT_EXCEEDED",
                "the session or the node holds all the quorum tokens it may"},
    status_info{status::two_factor_required, "RET_2FA_REQUIRED",
                "this user logs in with -2fa: sign the challenge with the registered key"},
    status_info{status::two_factor_invalid, "RET_2FA_INVALID",
                "no live 2FA challenge of this login, or its signature does not verify"},
    status_info{status::key_mismatch, "RET_KEY_MISMATCH",
                "the node holds another key, or another owner's, under that handle"},
    status_info{status::key_generation_expired, "RET_KEY_GENERATION_EXPIRED",
                "the generated key waited too long to be inserted: generate it again"},
    status_info{status::key_quota_exceeded, "RET_KEY_QUOTA_EXCEEDED",
                "the user owns as many keys as the node allows one user"},
    status_info{status::token_file_invalid, "RET_TOKEN_FILE_INVALID",
                "a token file holds one token per server, all of one service and one officer"},
    status_info{status::not_on_every_node, "RET_NOT_ON_EVERY_NODE",
                "a key's attributes change on every node of the cluster or on none: "
                "a node did not prepare this change"},
    status_info{status::key_unextractable, "RET_KEY_UNEXTRACTABLE",
                "the key is not extractable: it never leaves the cluster"},
    status_info{status::key_not_wrappable, "RET_KEY_NOT_WRAPPABLE",
                "only the key's owner wraps it, and a key asking for trusted wrapping keys "
                "only under one"},
    status_info{status::wrapped_key_invalid, "RET_WRAPPED_KEY_INVALID",
                "the wrapped key does not unwrap into a key of that class and type"},
};

const status_info* find(status s) noexcept {
    for (const auto& info : status_table)
        if (info.code == s) return &info;
    return nullptr;
}

class category final : public std::error_category {
public:
    const char* name() const noexcept override { return "hsm.status"; }
    std::string message(int value) const override {
        return std::string(status_description(static_cast<status>(value)));
    }
};

} // namespace

std::string_view status_name(status s) noexcept {
    const auto* info = find(s);
    return info ? info->name : "RET_UNKNOWN";
}

std::string_view status_description(status s) noexcept {
    const auto* info = find(s);
    return info ? info->description : "unknown status";
}

std::optional<status> status_from_name(std::string_view name) noexcept {
    for (const auto& info : status_table)
        if (info.name == name) return info.code;
    return std::nullopt;
}

const std::error_category& status_category() noexcept {
    static const category instance;
    return instance;
}

std::error_code make_error_code(status s) noexcept {
    return {static_cast<int>(s), status_category()};
}

} // namespace hsm
