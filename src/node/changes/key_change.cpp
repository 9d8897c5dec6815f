// SPDX-License-Identifier: Apache-2.0
// Key changes and their JSON form.
#include "changes/key_change.hpp"

#include "hsmsh/protocol/keys.hpp"

#include <algorithm>
#include <array>
#include <set>

#include <fmt/format.h>

namespace hsm {
namespace {

constexpr std::array<std::pair<key_change::kind, std::string_view>, 5> kind_names{{
    {key_change::kind::insert_keys, "insert_keys"},
    {key_change::kind::sync_key, "sync_key"},
    {key_change::kind::destroy_key, "destroy_key"},
    {key_change::kind::share_key, "share_key"},
    {key_change::kind::set_attribute, "set_attribute"},
}};

bool is_hex(const std::string& s) {
    return !s.empty() && s.size() <= 2 * max_frame_size && std::ranges::all_of(s, [](char c) {
        return std::isxdigit(static_cast<unsigned char>(c));
    });
}

} // namespace

std::string_view key_change_name(key_change::kind k) noexcept {
    for (const auto& [value, name] : kind_names)
        if (value == k) return name;
    return "unknown";
}

std::optional<key_change::kind> key_change_from_name(std::string_view name) noexcept {
    for (const auto& [value, n] : kind_names)
        if (n == name) return value;
    return std::nullopt;
}

bool key_change::well_formed() const noexcept {
    if (handles.empty() || std::ranges::any_of(handles, [](auto h) { return h <= 0; }))
        return false;
    if (std::set(handles.begin(), handles.end()).size() != handles.size()) return false;
    bool carries_keys = what == kind::insert_keys || what == kind::sync_key;
    std::size_t most = what == kind::insert_keys ? 2 : 1;
    if (handles.size() > most) return false;
    if (carries_keys != !sealed.empty() || (carries_keys && sealed.size() != handles.size()))
        return false;
    if (!std::ranges::all_of(sealed, is_hex)) return false;
    if (what != kind::set_attribute && (attribute != 0 || !value.empty())) return false;
    if (value.size() > max_key_label) return false;
    if (what != kind::share_key && !users.empty()) return false;
    if (users.size() > max_key_shares) return false;
    return std::ranges::all_of(users, [](const std::string& u) {
        return valid_user_name(u) && canonical_user_name(u) == u;
    });
}

std::string_view key_change::kind_name() const noexcept {
    return key_change_name(what);
}

std::string key_change::subject() const {
    return fmt::format("key {}", handles.empty() ? 0 : handles.front());
}

json key_change::to_json() const {
    return {{"kind", key_change_name(what)},
            {"handles", handles},
            {"sealed", sealed},
            {"users", users},
            {"share", share},
            {"attribute", attribute},
            {"value", value},
            {"actor",
             {{"id", actor_id},
              {"generation", actor_generation},
              {"type", user_type_name(actor_type)}}}};
}

std::optional<key_change> key_change::from_json(const json& j) {
    try {
        key_change c;
        auto kind = key_change_from_name(j.at("kind").get<std::string>());
        auto actor_type = user_type_from_name(j.at("actor").at("type").get<std::string>());
        if (!kind || !actor_type) return std::nullopt;
        c.what = *kind;
        c.handles = j.at("handles").get<std::vector<std::int64_t>>();
        c.sealed = j.at("sealed").get<std::vector<std::string>>();
        c.users = j.at("users").get<std::vector<std::string>>();
        c.share = j.at("share").get<bool>();
        c.attribute = j.at("attribute").get<std::uint32_t>();
        c.value = j.at("value").get<std::string>();
        c.actor_id = j.at("actor").at("id").get<std::int64_t>();
        c.actor_generation = j.at("actor").at("generation").get<std::int64_t>();
        c.actor_type = *actor_type;
        if (!c.well_formed()) return std::nullopt;
        return c;
    } catch (const json::exception&) {
        return std::nullopt;
    }
}

std::optional<key_change> key_change::from_stored(std::string_view text) {
    return from_json(json::parse(text, nullptr, false));
}

} // namespace hsm
