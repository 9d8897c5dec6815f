// SPDX-License-Identifier: Apache-2.0
// The typed changes a prepare carries: their names, encoder and decoder.
#include "hsmsh/protocol/changes.hpp"

#include <limits>

namespace hsm {
namespace {

template <typename... F> struct overloaded : F... { using F::operator()...; };
template <typename... F> overloaded(F...) -> overloaded<F...>;

std::optional<change_request> sharing_from(const json& f) {
    auto handle = integer_field(f, "handle");
    auto share = bool_field(f, "share");
    auto users = f.find("users");
    if (!handle || !share || users == f.end() || !users->is_array()) return std::nullopt;
    key_sharing c{*handle, {}, *share};
    for (const auto& u : *users) {
        if (!u.is_number_integer()) return std::nullopt;
        c.users.push_back(u.get<std::int64_t>());
    }
    return c;
}

std::optional<change_request> attribute_from(const json& f) {
    auto handle = integer_field(f, "handle");
    auto attribute = integer_field(f, "attribute");
    auto value = string_field(f, "value");
    if (!handle || !attribute || *attribute < 0 || *attribute > 0xffffffff || !value)
        return std::nullopt;
    return key_attribute_change{*handle, static_cast<std::uint32_t>(*attribute), *value};
}

std::optional<change_request> m_value_from(const json& f) {
    auto service = integer_field(f, "service");
    auto svc = service ? quorum::service_from_number(static_cast<long>(*service)) : std::nullopt;
    auto m = integer_field(f, "m");
    if (!svc || !m || *m < std::numeric_limits<int>::min() || *m > std::numeric_limits<int>::max())
        return std::nullopt;
    return m_value_change{*svc, static_cast<int>(*m)};
}

std::optional<change_request> user_sync_from(const json& f) {
    auto record = f.find("record");
    auto sealed = record == f.end() ? std::nullopt : sealed_user_from(*record);
    auto force = f.contains("force") ? bool_field(f, "force") : std::optional(false);
    if (!sealed || !force) return std::nullopt;
    return user_sync{*sealed, *force};
}

} // namespace

std::string_view change_request_name(const change_request& c) noexcept {
    return std::visit(overloaded{
                          [](const key_insertion&) { return "insert_keys"; },
                          [](const key_copy&) { return "sync_key"; },
                          [](const key_destruction&) { return "destroy_key"; },
                          [](const key_sharing&) { return "share_key"; },
                          [](const key_attribute_change&) { return "set_attribute"; },
                          [](const m_value_change&) { return "set_m_value"; },
                          [](const user_sync&) { return "sync_user"; },
                      },
                      c);
}

json to_fields(const change_request& c) {
    json f = std::visit(
        overloaded{
            [](const key_insertion& k) { return to_json(k.keys); },
            [](const key_copy& k) {
                auto f = to_json(k.keys);
                if (!k.keys.empty()) f["handle"] = k.keys.front().handle;
                return f;
            },
            [](const key_destruction& k) {
                return json{{"handle", k.handle}};
            },
            [](const key_sharing& k) {
                return json{{"handle", k.handle}, {"users", k.users}, {"share", k.share}};
            },
            [](const key_attribute_change& k) {
                return json{{"handle", k.handle}, {"attribute", k.attribute}, {"value", k.value}};
            },
            [](const m_value_change& m) {
                return json{{"service", static_cast<int>(m.svc)}, {"m", m.m}};
            },
            [](const user_sync& u) {
                return json{
                    {"name", u.record.name}, {"record", to_json(u.record)}, {"force", u.force}};
            },
        },
        c);
    f["change"] = change_request_name(c);
    return f;
}

std::optional<change_request> change_request_from(const json& f) {
    if (!f.is_object()) return std::nullopt;
    auto name = string_field(f, "change").value_or("");
    if (name == "insert_keys") {
        auto keys = sealed_keys_from(f);
        return keys ? std::optional<change_request>(key_insertion{*keys}) : std::nullopt;
    }
    if (name == "sync_key") {
        auto keys = sealed_keys_from(f);
        return keys ? std::optional<change_request>(key_copy{*keys}) : std::nullopt;
    }
    if (name == "destroy_key") {
        auto handle = integer_field(f, "handle");
        return handle ? std::optional<change_request>(key_destruction{*handle}) : std::nullopt;
    }
    if (name == "share_key") return sharing_from(f);
    if (name == "set_attribute") return attribute_from(f);
    if (name == "set_m_value") return m_value_from(f);
    if (name == "sync_user") return user_sync_from(f);
    return std::nullopt;
}

} // namespace hsm
