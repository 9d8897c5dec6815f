// SPDX-License-Identifier: Apache-2.0
// A request's target user, checked; its password, taken out of its fields.
#pragma once

#include "hsmsh/protocol/requests.hpp"
#include "hsmsh/protocol/status.hpp"
#include "hsmsh/protocol/user_rules.hpp"
#include "hsmsh/protocol/wire.hpp"
#include "hsmsh/secret.hpp"

#include <optional>
#include <string>

namespace hsm {

// The target of a user request: its type and canonical name, or why not.
struct user_target {
    user_type type = user_type::cu;
    std::string name;
    status error = status::ok;
};

inline user_target parse_target(const user_named& u, status bad_name) {
    if (!u.type) return {user_type::cu, {}, status::invalid_user_type};
    if (!u.name || !valid_user_name(*u.name)) return {*u.type, {}, bad_name};
    return {*u.type, canonical_user_name(*u.name), status::ok};
}

// Moves the password out of the request into a secret and wipes the original.
inline std::optional<secret> take_password(json& fields) {
    auto it = fields.find("password");
    if (it == fields.end() || !it->is_string()) return std::nullopt;
    auto& text = it->get_ref<std::string&>();
    secret out{std::string(text)};
    wipe(text);
    return out;
}

inline bool same_type(user_type stored, user_type asked) {
    // A PCO logs in and is addressed as CO, as CMU does.
    return stored == asked || (stored == user_type::pco && asked == user_type::co);
}

} // namespace hsm
