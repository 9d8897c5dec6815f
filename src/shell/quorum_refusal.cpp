// SPDX-License-Identifier: Apache-2.0
// A change under quorum without an approved token, refused before its
// banner: once, with the next step.
#include "change_runner.hpp"

#include "hsmsh/client/cluster_link.hpp"
#include "hsmsh/protocol/quorum.hpp"
#include "hsmsh/protocol/replies.hpp"
#include "render.hpp"

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
    if (!tokens.ok()) return false;
    return std::ranges::any_of(token_list_from(tokens.fields), [&](const token_summary& t) {
        return t.service == static_cast<int>(svc) &&
               t.approvals.value_or(0) >= t.required.value_or(1);
    });
}

} // namespace

void change_runner::note_quorum(const std::vector<std::size_t>& servers) {
    auto& logins = session_.logins;
    for (auto i : servers)
        if (logins[i]) logins[i]->under_quorum.clear();
    for (auto svc : {quorum::service::user_mgmt, quorum::service::misc_co})
        for (const auto& r : cluster_.fan_out(servers, operation::get_m_value,
                                              json{{"service", static_cast<int>(svc)}}))
            if (r.outcome.ok() && m_value_from(r.outcome.fields).value_or(1) > 1 && logins[r.index])
                logins[r.index]->under_quorum.insert(svc);
}

std::optional<change_runner::quorum_need>
change_runner::quorum_asked(const command_spec& spec, const std::string& name,
                            const std::vector<std::size_t>& where) {
    const auto& logins = session_.logins;
    std::vector<std::size_t> asked;
    bool on_self = true;
    for (auto i : where) {
        if (!cluster_.link().connected(i)) continue; // the banner warns of it
        if (!logins[i]) return std::nullopt;
        asked.push_back(i);
        on_self = on_self && logins[i]->name == name;
    }
    auto svc = spec.op ? guarding(*spec.op, on_self) : std::nullopt;
    if (asked.empty() || !svc ||
        std::ranges::any_of(asked, [&](auto i) { return !logins[i]->under_quorum.contains(*svc); }))
        return std::nullopt;
    auto least = least_m(asked, *svc);
    if (!least) return std::nullopt;
    auto tokens = cluster_.fan_out(asked, operation::list_tokens, json::object());
    if (std::ranges::any_of(tokens, [&](const auto& r) {
            return !r.outcome.ok() || holds_approved_token(r.outcome, *svc);
        }))
        return std::nullopt;
    return quorum_need{*svc, *least};
}

std::optional<int> change_runner::least_m(const std::vector<std::size_t>& asked,
                                          quorum::service svc) {
    auto m =
        cluster_.fan_out(asked, operation::get_m_value, json{{"service", static_cast<int>(svc)}});
    int least = quorum::max_m;
    for (const auto& r : m) {
        auto value = r.outcome.ok() ? m_value_from(r.outcome.fields) : std::nullopt;
        if (!value || *value <= 1) return std::nullopt; // no quorum there, or no answer
        least = std::min(least, static_cast<int>(*value));
    }
    return least;
}

bool change_runner::refused_by_quorum(const command_spec& spec, const std::string& name,
                                      const std::vector<std::size_t>& where) {
    auto need = quorum_asked(spec, name, where);
    if (!need) return false;
    auto number = static_cast<int>(need->svc);
    auto you = session_.login_name(where);
    auto next = fmt::format("getToken {} {} FILE, {} officers sign FILE, approveToken "
                            "APPROVAL-FILE, then {} again",
                            number, you, need->m, spec.name);
    if (options_.json) {
        output_.emit(json{{"command", spec.name},
                          {"ok", false},
                          {"refused_before_sending", true},
                          {"code", status_name(status::mxn_auth_failed)},
                          {"quorum", {{"service", number}, {"m", need->m}}},
                          {"next", next}});
        return true;
    }
    fmt::print(output_.out(),
               "{} refused: {}: {} (service {}) needs {} approvals on every server, and this "
               "login holds no approved token for it. Nothing was sent or changed.\n"
               "  Next: {} (quorum status shows your tokens).\n",
               spec.name, status_name(status::mxn_auth_failed), quorum::service_name(need->svc),
               number, need->m, next);
    return true;
}

} // namespace hsm
