// SPDX-License-Identifier: Apache-2.0
// Reading a request's fields: its target user, its password, its quorum service.
#pragma once

#include "hsmsh/quorum.hpp"
#include "hsmsh/secret.hpp"
#include "hsmsh/status.hpp"
#include "hsmsh/user_rules.hpp"
#include "hsmsh/wire.hpp"

#include <optional>
#include <string>

namespace hsm {

// The target of a user request: its type and canonical name, or why not.
struct user_target {
    user_type type = user_type::cu;
    std::string name;
    status error = status::ok;
};

inline user_target parse_target(const json& f, status bad_name) {
    auto type = user_type_from_name(string_field(f, "type").value_or(""));
    auto name = string_field(f, "name");
    if (!type) return {user_type::cu, {}, status::invalid_user_type};
    if (!name || !valid_user_name(*name)) return {*type, {}, bad_name};
    return {*type, canonical_user_name(*name), status::ok};
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

// The quorum service a request names by number; nullopt when it names none.
inline std::optional<quorum::service> service_field(const json& f) {
    auto n = integer_field(f, "service");
    return n ? quorum::service_from_number(static_cast<long>(*n)) : std::nullopt;
}

inline bool same_type(user_type stored, user_type asked) {
    // A PCO logs in and is addressed as CO, as CMU does.
    return stored == asked || (stored == user_type::pco && asked == user_type::co);
}

} // namespace hsm
