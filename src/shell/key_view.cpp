// SPDX-License-Identifier: Apache-2.0
// CMU's key blocks, from the typed replies.
#include "key_view.hpp"

#include "hsmsh/log.hpp"
#include "render.hpp"

#include <algorithm>
#include <map>

#include <fmt/format.h>
#include <fmt/ostream.h>
#include <fmt/ranges.h>

namespace hsm {
namespace {

// PKCS#11's numbers for the class (CKO_*) and the key type (CKK_*).
std::uint32_t pkcs11_class(key_class c) {
    switch (c) {
    case key_class::public_key:
        return 2;
    case key_class::private_key:
        return 3;
    case key_class::secret_key:
        return 4;
    case key_class::certificate:
        return 1;
    case key_class::data:
        return 0;
    }
    return 0;
}

std::uint32_t pkcs11_key_type(key_type t) {
    switch (t) {
    case key_type::rsa:
        return 0x0;
    case key_type::ec:
        return 0x3;
    case key_type::generic_secret:
        return 0x10;
    case key_type::aes:
        return 0x1f;
    case key_type::ed25519:
        return 0x40;     // CKK_EC_EDWARDS
    case key_type::x509: // a certificate's or a data object's, which have no key type
    case key_type::opaque:
        return 0;
    }
    return 0;
}

std::string word(std::uint32_t v) {
    return fmt::format("0x{:08x}", v);
}

void print_failure(std::ostream& out, std::string_view command, const server_report& r) {
    print_server_lines(out, command, {r});
}

} // namespace

std::string key_handle_list(const found_keys& keys) {
    std::vector<std::string> items;
    for (const auto& k : keys.keys)
        items.push_back(fmt::format("{}({})", k.handle, k.owned ? 'o' : 's'));
    return fmt::format("{}", fmt::join(items, ","));
}

void print_found_keys(std::ostream& out, std::string_view command, const server_report& r) {
    auto found = r.outcome.ok() ? found_keys_from(r.outcome.fields) : std::nullopt;
    if (!found) return print_failure(out, command, r);
    auto label = server_label(r.index, r.name);
    fmt::print(out, "Keys on {}:\n", label);
    fmt::print(out, "Number of keys found {}\n", found->keys.size());
    fmt::print(out, "number of keys matched from start index 0::{}\n", found->keys.size());
    fmt::print(out, "{}\n", key_handle_list(*found));
    if (!found->hash.empty()) fmt::print(out, "Key Hash:\n{}\n", escape_terminal(found->hash));
    fmt::print(out, "{} success on {}\n", command, label);
}

std::vector<std::string> key_disagreements(const std::vector<server_report>& reports) {
    // Each server's view: its handle list and hash; the most common view
    // is the reference, and the others are named.
    std::map<std::string, std::vector<const server_report*>> views;
    for (const auto& r : reports) {
        auto found = r.outcome.ok() ? found_keys_from(r.outcome.fields) : std::nullopt;
        if (found) views[key_handle_list(*found) + " " + found->hash].push_back(&r);
    }
    std::vector<std::string> lines;
    if (views.size() < 2) return lines;
    auto common = std::ranges::max_element(
        views, [](const auto& a, const auto& b) { return a.second.size() < b.second.size(); });
    for (const auto& [view, servers] : views) {
        if (view == common->first) continue;
        for (const auto* r : servers)
            lines.push_back(fmt::format("{} differs from {} other server(s): its keys are {}",
                                        server_label(r->index, r->name), common->second.size(),
                                        escape_terminal(view)));
    }
    return lines;
}

void print_key_info(std::ostream& out, std::string_view command, const server_report& r) {
    auto k = r.outcome.ok() ? key_summary_from(r.outcome.fields) : std::nullopt;
    if (!k) return print_failure(out, command, r);
    fmt::print(out, "Key Info on {}:\n\n", server_label(r.index, r.name));
    fmt::print(out, "\t{},\n\n", k->flags.token ? "Token/Flash Key" : "Session Key");
    fmt::print(out, "\tOwned by user {}\n\n", k->owner);
    if (!k->shared.empty()) {
        fmt::print(out, "\talso, shared to following {} user(s):\n\n", k->shared.size());
        for (auto u : k->shared)
            fmt::print(out, "\t\t {}\n", u);
    }
    fmt::print(out, "\n");
}

void print_attribute_list(std::ostream& out) {
    fmt::print(out, "Following are the possible attribute values for getAttribute:\n\n");
    for (const auto& a : key_attributes())
        fmt::print(out, "      {:<32}= {}\n", a.name, static_cast<std::uint32_t>(a.id));
}

// Whether a certificate or data object has flag `f` (it is kept, and
// marked, but it is no key: no usage and no sensitivity).
bool certificate_flag(bool key_flags::*f) {
    return f == &key_flags::token || f == &key_flags::private_ || f == &key_flags::trusted ||
           f == &key_flags::destroyable || f == &key_flags::local;
}

std::optional<std::string> attribute_value(const key_summary& k, key_attribute a) {
    if (const auto* info = find_key_attribute(static_cast<std::uint32_t>(a)); info && info->flag) {
        if (!is_key(k.cls) && !certificate_flag(info->flag)) return std::nullopt;
        return word(k.flags.*(info->flag) ? 1 : 0);
    }
    bool secret = k.cls == key_class::secret_key;
    switch (a) {
    case key_attribute::class_:
        return word(pkcs11_class(k.cls));
    case key_attribute::key_type:
        if (!is_key(k.cls)) return std::nullopt;
        return word(pkcs11_key_type(k.type));
    case key_attribute::label:
        return escape_terminal(k.label);
    case key_attribute::id:
        return k.id;
    case key_attribute::modulus_bits:
        if (k.type != key_type::rsa) return std::nullopt;
        return word(static_cast<std::uint32_t>(k.bits));
    case key_attribute::value_len:
        if (!secret) return std::nullopt;
        return word(static_cast<std::uint32_t>(k.bits / 8));
    default:
        return std::nullopt;
    }
}

void print_attribute(std::ostream& out, std::string_view command, const server_report& r,
                     const attribute_info& a) {
    auto k = r.outcome.ok() ? key_summary_from(r.outcome.fields) : std::nullopt;
    if (!k) return print_failure(out, command, r);
    fmt::print(out, "Attribute Value on {}:\n", server_label(r.index, r.name));
    auto one = [&](const attribute_info& each) {
        if (auto value = attribute_value(*k, each.id))
            fmt::print(out, "{}\n{}\n", each.name, *value);
    };
    if (a.id != key_attribute::all) {
        if (!attribute_value(*k, a.id)) {
            fmt::print(out, "{}\n(no value for this key)\n", a.name);
            return;
        }
        return one(a);
    }
    for (const auto& each : key_attributes())
        one(each);
}

} // namespace hsm
