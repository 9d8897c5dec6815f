// SPDX-License-Identifier: Apache-2.0
// User types, and the rules for user names and passwords.
#include "hsmsh/protocol/user_rules.hpp"

#include <algorithm>
#include <array>

namespace hsm {
namespace {

constexpr std::array<std::pair<user_type, std::string_view>, 5> type_names{{
    {user_type::preco, "PRECO"},
    {user_type::co, "CO"},
    {user_type::pco, "PCO"},
    {user_type::cu, "CU"},
    {user_type::au, "AU"},
}};

constexpr bool is_name_char(char c) noexcept {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

constexpr bool is_control(unsigned char c) noexcept {
    return c < 0x20 || c == 0x7f;
}

} // namespace

std::string_view user_type_name(user_type t) noexcept {
    for (const auto& [value, name] : type_names)
        if (value == t) return name;
    return "?";
}

std::optional<user_type> user_type_from_name(std::string_view name) noexcept {
    if (name == "preCO") return user_type::preco;
    for (const auto& [value, known] : type_names)
        if (known == name) return value;
    return std::nullopt;
}

bool is_officer(user_type t) noexcept {
    return t == user_type::co || t == user_type::pco;
}

bool valid_cluster_id(std::string_view id) noexcept {
    return !id.empty() && id.size() <= 64 && std::ranges::all_of(id, [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '-' || c == '_' || c == '.';
    });
}

bool valid_user_name(std::string_view name) noexcept {
    return !name.empty() && name.size() <= max_user_name && std::ranges::all_of(name, is_name_char);
}

std::string canonical_user_name(std::string_view name) {
    std::string out(name);
    std::ranges::transform(out, out.begin(), [](char c) {
        return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
    });
    return out;
}

bool valid_password(std::string_view password) noexcept {
    if (password.size() < min_password || password.size() > max_password) return false;
    return std::ranges::none_of(password,
                                [](char c) { return is_control(static_cast<unsigned char>(c)); });
}

} // namespace hsm
