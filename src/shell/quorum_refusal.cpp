// SPDX-License-Identifier: Apache-2.0
// A change under quorum without an approved token, refused before its
// banner: once, with the next step.
#include "shell.hpp"

#include "hsmsh/cluster_link.hpp"
#include "hsmsh/quorum.hpp"

#include <algorithm>

#include <fmt/format.h>
#include <fmt/ostream.h>

namespace hsm {
namespace {

// The service a change needs approved, as the nodes decide it
// (node_service::guarding): user management for users other than oneself
// (syncUser included), MISC_CO for setMValue.
std::optional<quorum::service> guarding(operation op, bool on_self) {
    switch (op) {
    case operation::create_user:
    case operation::delete_user:
    case operation::set_key_quota:
    case operation::get_user: // syncUser's
        return quorum::service::user_mgmt;
    case operation::change_password:
        return on_self ? std::nullopt : std::optional(quorum::service::user_mgmt);
    case operation::set_m_value:
        return quorum::service::misc_co;
    default:
        return std::nullopt;
    }
}

// Whether a list_tokens reply holds a token of `svc` with its approvals.
bool holds_approved_token(const server_outcome& tokens, quorum::service svc) {
    auto list = tokens.fields.find("tokens");
    if (!tokens.ok() || list == tokens.fields.end() || !list->is_array()) return false;
    return std::ranges::any_of(*list, [&](const json& t) {
        return integer_field(t, "service") == static_cast<int>(svc) &&
               integer_field(t, "approvals").value_or(0) >=
                   integer_field(t, "required").value_or(1);
    });
}

} // namespace

void shell::note_quorum(const std::vector<std::size_t>& servers) {
    for (auto i : servers)
        if (logins_[i]) logins_[i]->under_quorum.clear();
    for (auto svc : {quorum::service::user_mgmt, quorum::service::misc_co})
        for (const auto& r :
             fan_out(servers, operation::get_m_value, json{{"service", static_cast<int>(svc)}}))
            if (r.outcome.ok() && integer_field(r.outcome.fields, "m").value_or(1) > 1 &&
                logins_[r.index])
                logins_[r.index]->under_quorum.insert(svc);
}

std::optional<shell::quorum_need> shell::quorum_asked(const command_spec& spec,
                                                      const std::string& name,
                                                      const std::vector<std::size_t>& where) {
    std::vector<std::size_t> asked;
    bool on_self = true;
    for (auto i : where) {
        if (!link_->connected(i)) continue; // the banner warns of it
        if (!logins_[i]) return std::nullopt;
        asked.push_back(i);
        on_self = on_self && logins_[i]->name == name;
    }
    auto svc = spec.op ? guarding(*spec.op, on_self) : std::nullopt;
    if (asked.empty() || !svc || std::ranges::any_of(asked, [&](auto i) {
            return !logins_[i]->under_quorum.contains(*svc);
        }))
        return std::nullopt;
    auto m = fan_out(asked, operation::get_m_value, json{{"service", static_cast<int>(*svc)}});
    int least = quorum::max_m;
    for (const auto& r : m) {
        auto value = r.outcome.ok() ? integer_field(r.outcome.fields, "m") : std::nullopt;
        if (!value || *value <= 1) return std::nullopt; // no quorum there, or no answer
        least = std::min(least, static_cast<int>(*value));
    }
    auto tokens = fan_out(asked, operation::list_tokens, json::object());
    if (std::ranges::any_of(tokens, [&](const auto& r) {
            return !r.outcome.ok() || holds_approved_token(r.outcome, *svc);
        }))
        return std::nullopt;
    return quorum_need{*svc, least};
}

bool shell::refused_by_quorum(const command_spec& spec, const std::string& name,
                              const std::vector<std::size_t>& where) {
    auto need = quorum_asked(spec, name, where);
    if (!need) return false;
    auto number = static_cast<int>(need->svc);
    std::string you;
    for (auto i : where)
        if (logins_[i]) you = logins_[i]->name;
    auto next = fmt::format("getToken {} {} FILE, {} officers sign FILE, approveToken "
                            "APPROVAL-FILE, then {} again",
                            number, you, need->m, spec.name);
    if (options_.json) {
        emit(json{{"command", spec.name},
                  {"ok", false},
                  {"refused_before_sending", true},
                  {"code", status_name(status::mxn_auth_failed)},
                  {"quorum", {{"service", number}, {"m", need->m}}},
                  {"next", next}});
        return true;
    }
    fmt::print(out_,
               "{} refused: {}: {} (service {}) needs {} approvals on every server, and this "
               "login holds no approved token for it. Nothing was sent or changed.\n"
               "  Next: {} (quorum status shows your tokens).\n",
               spec.name, status_name(status::mxn_auth_failed), quorum::service_name(need->svc),
               number, need->m, next);
    return true;
}

} // namespace hsm
