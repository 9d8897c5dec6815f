// SPDX-License-Identifier: Apache-2.0
// Sealing and opening keys, and what a well-formed key description is.
#include "store/key_record.hpp"

#include "hsmsh/hex.hpp"
#include "hsmsh/secret.hpp"

#include <algorithm>
#include <optional>
#include <utility>

#include <fmt/format.h>

namespace hsm {
namespace {

// Version 2 seals the description as one line of JSON, then a newline, then
// the material's own bytes; version 1 (still opened) put the material in the
// JSON as hex, which made a data object's sealed form four times its size.
std::string context(std::string_view cluster_id, std::int64_t handle, int version) {
    return fmt::format("hsmsh sealed key v{}\x1f{}\x1f{}", version, cluster_id, handle);
}

// The material a sealed plaintext carries, and its description with the
// material taken out; nullopt when it is not of that version's form.
std::optional<std::pair<json, key_material>> read_plain(std::string& plain, int version) {
    if (version == 1) {
        auto j = json::parse(plain, nullptr, false);
        if (!j.is_object() || !j.contains("material") || !j["material"].is_string())
            return std::nullopt;
        auto& hex = j["material"].get_ref<std::string&>();
        auto material = from_hex(hex);
        wipe(hex);
        if (!material) return std::nullopt;
        return std::pair{std::move(j), key_material(std::move(*material))};
    }
    auto line_end = plain.find('\n');
    if (line_end == std::string::npos) return std::nullopt;
    auto j = json::parse(std::string_view(plain).substr(0, line_end), nullptr, false);
    if (!j.is_object()) return std::nullopt;
    auto rest = std::string_view(plain).substr(line_end + 1);
    return std::pair{std::move(j), key_material(bytes(rest.begin(), rest.end()))};
}

bool size_fits(key_type t, int bits) {
    key_spec asked{t, bits};
    return parse_key_spec(key_spec_name(asked)) == asked;
}

} // namespace

bool well_formed(const key_record& k) noexcept {
    try {
        bool named = k.handle > 0 && k.version > 0 && valid_key_label(k.label) &&
                     valid_key_id_hex(k.id_hex) && flags_fit(k.flags, k.cls, k.type);
        // A certificate's DER is its public part.
        if (k.cls == key_class::certificate || k.type == key_type::x509)
            return named && k.cls == key_class::certificate && k.type == key_type::x509 &&
                   !k.public_der.empty() && k.public_der.size() <= max_certificate && k.bits >= 0;
        // A data object's bytes are sealed alone, never a public part (on
        // disk in the clear): get_key gives them to its owner and sharers.
        if (k.cls == key_class::data || k.type == key_type::opaque)
            return named && k.cls == key_class::data && k.type == key_type::opaque &&
                   k.public_der.empty() && k.bits == 0;
        bool asymmetric = is_asymmetric(k.type);
        if (asymmetric == (k.cls == key_class::secret_key)) return false;
        return k.handle > 0 && k.version > 0 && size_fits(k.type, k.bits) &&
               valid_key_label(k.label) && valid_key_id_hex(k.id_hex) &&
               flags_fit(k.flags, k.cls, k.type) && asymmetric == !k.public_der.empty();
    } catch (const std::exception&) {
        return false;
    }
}

bytes seal_key(std::span<const std::uint8_t> sealing_key, std::string_view cluster_id,
               const key_contents& k) {
    const auto& d = k.description;
    json j{{"handle", d.handle},
           {"class", key_class_name(d.cls)},
           {"type", key_type_name(d.type)},
           {"bits", d.bits},
           {"label", d.label},
           {"id", d.id_hex},
           {"flags", flags_to_json(d.flags)},
           {"version", d.version},
           {"owner", k.owner_name},
           {"shared", k.shared_names},
           {"public", to_hex(d.public_der)},
           {"copy", k.copy},
           {"sealed_at", k.sealed_at}};
    // dump() escapes every newline inside a string: the first one ends the JSON.
    // Reserved first, so that no reallocation leaves a copy of the material behind.
    auto description = j.dump();
    auto material = k.material.view();
    std::string plain;
    plain.reserve(description.size() + 1 + material.size());
    plain.append(description).append(1, '\n').append(material.begin(), material.end());
    auto sealed = seal(sealing_key, context(cluster_id, d.handle, 2), plain);
    wipe(plain);
    return sealed;
}

std::optional<key_contents> open_key(std::span<const std::uint8_t> sealing_key,
                                     std::string_view cluster_id, std::int64_t handle,
                                     std::span<const std::uint8_t> sealed) {
    int version = 2;
    auto plain = unseal(sealing_key, context(cluster_id, handle, version), sealed);
    if (!plain) plain = unseal(sealing_key, context(cluster_id, handle, version = 1), sealed);
    if (!plain) return std::nullopt;
    auto read = read_plain(*plain, version);
    wipe(*plain);
    if (!read) return std::nullopt;
    auto& [j, material] = *read;
    key_contents k;
    try {
        auto& d = k.description;
        d.handle = j.at("handle").get<std::int64_t>();
        auto cls = key_class_from_name(j.at("class").get<std::string>());
        auto type = key_type_from_name(j.at("type").get<std::string>());
        auto flags = flags_from_json(j.at("flags"), key_flags{});
        auto pub = from_hex(j.at("public").get<std::string>());
        if (!cls || !type || !flags || !pub) return std::nullopt;
        d.cls = *cls;
        d.type = *type;
        d.flags = *flags;
        d.public_der = std::move(*pub);
        d.bits = j.at("bits").get<int>();
        d.version = j.at("version").get<std::int64_t>();
        d.label = j.at("label").get<std::string>();
        d.id_hex = j.at("id").get<std::string>();
        k.owner_name = j.at("owner").get<std::string>();
        k.shared_names = j.at("shared").get<std::vector<std::string>>();
        k.material = std::move(material);
        // Blobs sealed before these fields were generations whose time is unknown.
        k.copy = j.value("copy", false);
        k.sealed_at = j.value("sealed_at", std::int64_t{0});
    } catch (const json::exception&) {
        return std::nullopt;
    }
    auto valid_name = [](const std::string& n) { return valid_user_name(n); };
    if (k.description.handle != handle || !well_formed(k.description) ||
        !valid_user_name(k.owner_name) || k.shared_names.size() > max_key_shares ||
        !std::ranges::all_of(k.shared_names, valid_name))
        return std::nullopt;
    return k;
}

} // namespace hsm
