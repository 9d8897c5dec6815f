// SPDX-License-Identifier: Apache-2.0
// Planned changes, their JSON form, the resolution rule and record digests.
#include "changes/planned_change.hpp"

#include "hsmsh/protocol/keys.hpp"
#include "hsmsh/sealing.hpp"
#include "hsmsh/secret.hpp"

#include <array>

#include <fmt/format.h>
#include <openssl/crypto.h>

namespace hsm {
namespace {

constexpr std::array<std::pair<planned_change::kind, std::string_view>, 7> kind_names{{
    {planned_change::kind::create_user, "create_user"},
    {planned_change::kind::delete_user, "delete_user"},
    {planned_change::kind::change_password, "change_password"},
    {planned_change::kind::sync_user, "sync_user"},
    {planned_change::kind::register_quorum_key, "register_quorum_key"},
    {planned_change::kind::set_key_quota, "set_key_quota"},
    {planned_change::kind::nothing, "nothing"},
}};

} // namespace

std::string_view change_kind_name(planned_change::kind k) noexcept {
    for (const auto& [value, name] : kind_names)
        if (value == k) return name;
    return "nothing";
}

std::string_view planned_change::kind_name() const noexcept {
    return change_kind_name(what);
}

bool planned_change::well_formed() const noexcept {
    if (!valid_user_name(name) || canonical_user_name(name) != name) return false;
    if (failures < 0 || failures > max_login_failures || version < 0) return false;
    if (quorum_key.size() > max_quorum_key_size) return false;
    if (key_quota && (*key_quota < 0 || *key_quota > std::int64_t{max_keys_per_node})) return false;
    return !hash ||
           (hash->salt.size() == salt_size && hash->key.size() == derived_key_size &&
            hash->iterations >= min_kdf_iterations && hash->iterations <= max_kdf_iterations);
}

json planned_change::to_json() const {
    json j{{"kind", change_kind_name(what)},
           {"name", name},
           {"type", user_type_name(type)},
           {"version", version},
           {"failures", failures},
           {"activation", activation},
           {"approvers", approvers_to_json(approvals)},
           {"actor",
            {{"id", actor_id},
             {"generation", actor_generation},
             {"type", user_type_name(actor_type)}}},
           {"target", {{"id", target_id}, {"generation", target_generation}}}};
    if (!quorum_key.empty()) j["quorum_key"] = to_hex(quorum_key);
    if (two_fa != second_factor::unchanged) j["two_fa"] = two_fa == second_factor::on;
    if (revoke) j["revoke"] = true;
    if (key_quota) j["key_quota"] = *key_quota;
    if (hash)
        j["hash"] = {{"salt", to_hex(hash->salt)},
                     {"key", to_hex(hash->key)},
                     {"iterations", hash->iterations}};
    return j;
}

namespace {

// The named steps of from_json: each reads one part of the stored form into
// `c` and says whether it is well formed; a missing required field or a
// field of the wrong type throws json::exception, which from_json catches.
bool read_kind_and_type(const json& j, planned_change& c) {
    auto kind = j.at("kind").get<std::string>();
    bool known = false;
    for (const auto& [value, name] : kind_names)
        if (name == kind) c.what = value, known = true;
    auto type = user_type_from_name(j.at("type").get<std::string>());
    if (!known || !type) return false;
    c.type = *type;
    return true;
}

void read_record(const json& j, planned_change& c) {
    c.name = j.at("name").get<std::string>();
    c.version = j.at("version").get<std::int64_t>();
    c.failures = j.at("failures").get<int>();
    c.activation = j.at("activation").get<bool>();
}

// Rows prepared before approvers were kept have none: under a quorum they
// no longer commit, which is the safe side.
bool read_approvals(const json& j, planned_change& c) {
    if (!j.contains("approvers")) return true;
    auto a = approvers_from_json(j.at("approvers"));
    if (!a) return false;
    c.approvals = std::move(*a);
    return true;
}

bool read_hash(const json& j, planned_change& c) {
    if (!j.contains("hash")) return true;
    const auto& h = j.at("hash");
    auto salt = from_hex(h.at("salt").get<std::string>());
    auto key = from_hex(h.at("key").get<std::string>());
    auto iterations = h.at("iterations").get<std::int64_t>();
    if (!salt || !key || iterations < 0 || iterations > max_kdf_iterations) return false;
    c.hash = password_hash{*salt, *key, static_cast<std::uint32_t>(iterations)};
    return true;
}

// The quorum key, and two-factor login, which needs one to be on.
bool read_second_factor(const json& j, planned_change& c) {
    using second_factor = planned_change::second_factor;
    if (j.contains("quorum_key")) {
        auto key = from_hex(j.at("quorum_key").get<std::string>());
        if (!key || key->empty()) return false;
        c.quorum_key = std::move(*key);
    }
    if (j.contains("two_fa"))
        c.two_fa = j.at("two_fa").get<bool>() ? second_factor::on : second_factor::off;
    return c.two_fa != second_factor::on || !c.quorum_key.empty();
}

void read_options(const json& j, planned_change& c) {
    c.revoke = j.value("revoke", false);
    if (j.contains("key_quota")) c.key_quota = j.at("key_quota").get<std::int64_t>();
}

// Who asked and whom it changes, as they were at prepare.
bool read_actor_and_target(const json& j, planned_change& c) {
    if (j.contains("actor")) {
        const auto& a = j.at("actor");
        auto actor_type = user_type_from_name(a.at("type").get<std::string>());
        if (!actor_type) return false;
        c.actor_id = a.at("id").get<std::int64_t>();
        c.actor_generation = a.at("generation").get<std::int64_t>();
        c.actor_type = *actor_type;
    }
    if (j.contains("target")) {
        c.target_id = j.at("target").at("id").get<std::int64_t>();
        c.target_generation = j.at("target").at("generation").get<std::int64_t>();
    }
    return true;
}

} // namespace

std::optional<planned_change> planned_change::from_json(const json& j) {
    try {
        planned_change c;
        if (!read_kind_and_type(j, c)) return std::nullopt;
        read_record(j, c);
        if (!read_approvals(j, c) || !read_hash(j, c) || !read_second_factor(j, c))
            return std::nullopt;
        read_options(j, c);
        if (!read_actor_and_target(j, c) || !c.well_formed()) return std::nullopt;
        return c;
    } catch (const json::exception&) {
        return std::nullopt;
    }
}

std::optional<std::string> stored_kind(const json& j) {
    if (!j.is_object() || !j.contains("kind") || !j.at("kind").is_string()) return std::nullopt;
    return j.at("kind").get<std::string>();
}

std::optional<planned_change> planned_change::from_stored(std::string_view text) {
    return from_json(json::parse(text, nullptr, false));
}

resolution resolve_prepared(std::span<const peer_answer> answers, bool give_up) noexcept {
    bool unreachable = false;
    for (auto a : answers) {
        if (a == peer_answer::committed) return resolution::commit;
        if (a == peer_answer::unreachable) unreachable = true;
    }
    return unreachable && !give_up ? resolution::wait : resolution::abort;
}

std::string record_digest(std::span<const std::uint8_t> key, std::string_view name, user_type type,
                          std::int64_t version, bool locked, const password_hash& hash,
                          std::span<const std::uint8_t> quorum_key, bool two_fa,
                          std::optional<std::int64_t> key_quota) {
    // "|2fa" only when on, the quota only when set: records without them
    // keep the digests they had.
    auto text = fmt::format("{}|{}|{}|{}|{}|{}|{}|{}{}{}", name, user_type_name(type), version,
                            locked ? 1 : 0, to_hex(hash.salt), to_hex(hash.key), hash.iterations,
                            to_hex(quorum_key), two_fa ? "|2fa" : "",
                            key_quota ? fmt::format("|quota={}", *key_quota) : "");
    auto mac = hmac_sha256(key, text);
    OPENSSL_cleanse(text.data(), text.size()); // it held the stored key, in hex
    return to_hex(std::span(mac).first(8));
}

} // namespace hsm
