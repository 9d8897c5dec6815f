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
        auto id = integer_field(e, "id");
        auto hex = string_field(e, "key");
        auto key = hex ? from_hex(*hex) : std::nullopt;
        if (!id || !key || key->empty() || key->size() > 1024) return std::nullopt;
        if (!out.emplace(*id, std::move(*key)).second) return std::nullopt;
    }
    return out;
}

} // namespace hsm
