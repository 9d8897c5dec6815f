// SPDX-License-Identifier: Apache-2.0
// Planned changes, their JSON form, the resolution rule and record digests.
#include "planned_change.hpp"

#include <array>

#include <fmt/format.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

namespace hsm {
namespace {

constexpr std::array<std::pair<planned_change::kind, std::string_view>, 5> kind_names{{
    {planned_change::kind::create_user, "create_user"},
    {planned_change::kind::delete_user, "delete_user"},
    {planned_change::kind::change_password, "change_password"},
    {planned_change::kind::sync_user, "sync_user"},
    {planned_change::kind::nothing, "nothing"},
}};

} // namespace

std::string_view change_kind_name(planned_change::kind k) noexcept {
    for (const auto& [value, name] : kind_names)
        if (value == k) return name;
    return "nothing";
}

std::string to_hex(const std::vector<std::uint8_t>& bytes) {
    // A table, not fmt per byte: listUsers computes a digest per user and
    // per request, and formatting each byte was 14% of a node's time in it.
    static constexpr char digits[] = "0123456789abcdef";
    std::string out(bytes.size() * 2, '\0');
    for (std::size_t i = 0; i < bytes.size(); ++i) {
        out[2 * i] = digits[bytes[i] >> 4];
        out[2 * i + 1] = digits[bytes[i] & 0x0f];
    }
    return out;
}

std::optional<std::vector<std::uint8_t>> from_hex(std::string_view text) {
    if (text.size() % 2 != 0 || text.size() > 512) return std::nullopt;
    std::vector<std::uint8_t> out;
    for (std::size_t i = 0; i < text.size(); i += 2) {
        auto nibble = [](char c) -> int {
            if (c >= '0' && c <= '9') return c - '0';
            if (c >= 'a' && c <= 'f') return c - 'a' + 10;
            return -1;
        };
        int hi = nibble(text[i]), lo = nibble(text[i + 1]);
        if (hi < 0 || lo < 0) return std::nullopt;
        out.push_back(static_cast<std::uint8_t>(hi * 16 + lo));
    }
    return out;
}

json planned_change::to_json() const {
    json j{{"kind", change_kind_name(what)}, {"name", name},
           {"type", user_type_name(type)},   {"version", version},
           {"failures", failures},           {"activation", activation}};
    if (hash)
        j["hash"] = {{"salt", to_hex(hash->salt)},
                     {"key", to_hex(hash->key)},
                     {"iterations", hash->iterations}};
    return j;
}

std::optional<planned_change> planned_change::from_json(const json& j) {
    try {
        planned_change c;
        auto kind = j.at("kind").get<std::string>();
        bool known = false;
        for (const auto& [value, name] : kind_names)
            if (name == kind) c.what = value, known = true;
        auto type = user_type_from_name(j.at("type").get<std::string>());
        if (!known || !type) return std::nullopt;
        c.type = *type;
        c.name = j.at("name").get<std::string>();
        c.version = j.at("version").get<std::int64_t>();
        c.failures = j.at("failures").get<int>();
        c.activation = j.at("activation").get<bool>();
        if (j.contains("hash")) {
            const auto& h = j.at("hash");
            auto salt = from_hex(h.at("salt").get<std::string>());
            auto key = from_hex(h.at("key").get<std::string>());
            auto iterations = h.at("iterations").get<std::uint32_t>();
            if (!salt || !key || key->empty() || iterations < min_kdf_iterations)
                return std::nullopt;
            c.hash = password_hash{*salt, *key, iterations};
        }
        if (!valid_user_name(c.name)) return std::nullopt;
        return c;
    } catch (const json::exception&) {
        return std::nullopt;
    }
}

resolution resolve_prepared(std::span<const peer_answer> answers, bool give_up) noexcept {
    bool unreachable = false;
    for (auto a : answers) {
        if (a == peer_answer::committed) return resolution::commit;
        if (a == peer_answer::unreachable) unreachable = true;
    }
    return unreachable && !give_up ? resolution::wait : resolution::abort;
}

std::string record_digest(std::string_view name, user_type type, std::int64_t version, bool locked,
                          const password_hash& hash) {
    auto text = fmt::format("{}|{}|{}|{}|{}|{}|{}", name, user_type_name(type), version,
                            locked ? 1 : 0, to_hex(hash.salt), to_hex(hash.key), hash.iterations);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_Digest(text.data(), text.size(), md, &len, EVP_sha256(), nullptr);
    OPENSSL_cleanse(text.data(), text.size()); // it held the stored key, in hex
    return to_hex(std::vector<std::uint8_t>(md, md + 8));
}

} // namespace hsm
