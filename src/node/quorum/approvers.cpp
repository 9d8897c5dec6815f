// SPDX-License-Identifier: Apache-2.0
// Approvers as a prepared change stores them.
#include "quorum/approvers.hpp"

#include "hsmsh/hex.hpp"

namespace hsm {

json approvers_to_json(const approver_keys& a) {
    json out = json::array();
    for (const auto& [id, key] : a)
        out.push_back({{"id", id}, {"key", to_hex(key)}});
    return out;
}

std::optional<approver_keys> approvers_from_json(const json& j) {
    if (!j.is_array() || j.size() > max_approvers) return std::nullopt;
    approver_keys out;
    for (const auto& e : j) {
        if (!e.is_object() || !e.contains("id") || !e["id"].is_number_integer() ||
            !e.contains("key") || !e["key"].is_string())
            return std::nullopt;
        auto key = from_hex(e["key"].get<std::string>());
        if (!key || key->empty() || key->size() > 1024) return std::nullopt;
        if (!out.emplace(e["id"].get<std::int64_t>(), std::move(*key)).second) return std::nullopt;
    }
    return out;
}

} // namespace hsm
