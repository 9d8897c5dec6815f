// SPDX-License-Identifier: Apache-2.0
// The session with each server: reset, logins, and the last listings kept
// in step with the changes the shell committed.
#include "session_state.hpp"

#include <algorithm>

namespace hsm {

void session_state::reset(std::size_t servers) {
    server_mode.reset();
    logins.assign(servers, std::nullopt);
    ever_connected.assign(servers, false);
    listed.assign(servers, std::nullopt);
    certificates.assign(servers, std::string());
}

std::vector<std::size_t> session_state::logged_in() const {
    std::vector<std::size_t> servers;
    for (std::size_t i = 0; i < logins.size(); ++i)
        if (logins[i]) servers.push_back(i);
    return servers;
}

std::string session_state::login_name(const std::vector<std::size_t>& where) const {
    std::string name;
    for (auto i : where)
        if (logins[i]) name = logins[i]->name;
    return name;
}

void session_state::note_committed(operation op, user_type type, const std::string& name,
                                   const std::vector<phase_report>& reports) {
    for (const auto& r : reports) {
        auto& users = listed[r.index];
        if (r.result != phase_result::committed || !users) continue;
        auto same = [&](const user_summary& u) { return u.name == name; };
        if (op == operation::delete_user) std::erase_if(*users, same);
        if (op == operation::create_user && std::ranges::none_of(*users, same)) {
            user_summary added;
            added.type = user_type_name(type);
            added.name = name;
            users->push_back(std::move(added));
        }
    }
}

void session_state::note_activation(const parsed_command& cmd,
                                    const std::vector<std::size_t>& where) {
    if (cmd.spec->op != operation::change_password) return;
    for (auto i : where) {
        auto& l = logins[i];
        if (l && l->type == user_type::preco && l->name == canonical_user_name(cmd.args.at(1)))
            l->type = user_type::co;
    }
}

std::vector<std::string> session_state::listed_names() const {
    std::vector<std::string> names;
    for (const auto& users : listed)
        if (users)
            for (const auto& u : *users)
                if (std::ranges::find(names, u.name) == names.end()) names.push_back(u.name);
    return names;
}

} // namespace hsm
