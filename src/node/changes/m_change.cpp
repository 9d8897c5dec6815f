// SPDX-License-Identifier: Apache-2.0
// setMValue as a prepared change.
#include "changes/m_change.hpp"

#include <fmt/format.h>

namespace hsm {

std::string m_change::subject() const {
    return fmt::format("mvalue {}", static_cast<int>(svc));
}

json m_change::to_json() const {
    return {{"kind", kind_tag},
            {"service", static_cast<int>(svc)},
            {"m", m},
            {"approvers", approvers_to_json(approvals)},
            {"actor",
             {{"id", actor_id},
              {"generation", actor_generation},
              {"type", user_type_name(actor_type)}}}};
}

std::optional<m_change> m_change::from_json(const json& j) {
    try {
        if (j.at("kind").get<std::string>() != kind_tag) return std::nullopt;
        auto svc = quorum::service_from_number(j.at("service").get<long>());
        auto type = user_type_from_name(j.at("actor").at("type").get<std::string>());
        if (!svc || !type) return std::nullopt;
        m_change c;
        c.svc = *svc;
        c.m = j.at("m").get<int>();
        if (j.contains("approvers")) { // none in rows of older nodes: the safe side
            auto a = approvers_from_json(j.at("approvers"));
            if (!a) return std::nullopt;
            c.approvals = std::move(*a);
        }
        c.actor_id = j.at("actor").at("id").get<std::int64_t>();
        c.actor_generation = j.at("actor").at("generation").get<std::int64_t>();
        c.actor_type = *type;
        if (c.m < quorum::min_m || c.m > quorum::max_m) return std::nullopt;
        return c;
    } catch (const json::exception&) {
        return std::nullopt;
    }
}

std::optional<m_change> m_change::from_stored(std::string_view text) {
    return from_json(json::parse(text, nullptr, false));
}

} // namespace hsm
