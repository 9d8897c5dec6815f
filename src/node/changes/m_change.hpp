// SPDX-License-Identifier: Apache-2.0
// setMValue as a prepared change: a quorum service's new m value, who asked,
// and the approvals that allowed it (re-checked at commit).
#pragma once

#include "hsmsh/protocol/quorum.hpp"
#include "hsmsh/protocol/user_rules.hpp"
#include "hsmsh/protocol/wire.hpp"
#include "quorum/approvers.hpp"

#include <optional>
#include <string>
#include <string_view>

namespace hsm {

struct m_change {
    quorum::service svc = quorum::service::user_mgmt;
    int m = 1;
    approver_keys approvals; // who approved the token it used
    std::int64_t actor_id = 0;
    std::int64_t actor_generation = 0;
    user_type actor_type = user_type::cu;

    /// The prepared row's subject: "mvalue 3" (no user name has a space).
    std::string subject() const;
    /// The "kind" of its stored form.
    static constexpr std::string_view kind_tag = "set_m_value";
    std::string_view kind_name() const noexcept { return kind_tag; }
    json to_json() const;
    /// Nullopt for anything but a well-formed set_m_value change.
    static std::optional<m_change> from_json(const json& j);
    static std::optional<m_change> from_stored(std::string_view text);
};

} // namespace hsm
