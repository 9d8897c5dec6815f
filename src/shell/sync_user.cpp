// SPDX-License-Identifier: Apache-2.0
// syncUser: repairing divergence by copying a user's stored record (its
// salted hash, never a password) through prepare/commit.
#include "shell.hpp"

#include "divergence.hpp"
#include "hsmsh/cluster_link.hpp"
#include "hsmsh/protocol/changes.hpp"

#include <fmt/format.h>
#include <fmt/ostream.h>

namespace hsm {
namespace {

// The sealed record a server sent, when it answered with one that reads.
std::optional<sealed_user> record_of(const server_report& r) {
    auto it = r.outcome.fields.find("record");
    if (!r.outcome.ok() || it == r.outcome.fields.end()) return std::nullopt;
    return sealed_user_from(*it);
}

} // namespace

line_result shell::run_sync(parsed_command& cmd) {
    bool force = cmd.args.size() == 3;
    if (force && cmd.args[2] != "--force")
        throw usage_error(fmt::format("usage: {}", cmd.spec->synopsis));
    if (cmd.args[1] == "--all") {
        if (server_mode_)
            throw usage_error(
                fmt::format("{} ... --all works in global mode: exit first", cmd.spec->name));
        if (!valid_user_name(cmd.args[0])) throw usage_error("--all takes a user name");
        return sync_all(*cmd.spec, canonical_user_name(cmd.args[0]), force);
    }
    if (!server_mode_)
        throw usage_error(fmt::format("{0} <user> <server> works in server mode (server N), as in "
                                      "CMU; {0} <user-name> --all works here",
                                      cmd.spec->name));
    auto destination = parse_server_number(cmd.args[1], link_->size());
    if (!destination || *destination == *server_mode_)
        throw usage_error(fmt::format("no other server {}", cmd.args[1]));
    return sync_to(*cmd.spec, cmd.args[0], *destination, force);
}

line_result shell::sync_to(const command_spec& spec, const std::string& user,
                           std::size_t destination, bool force) {
    auto source = *server_mode_;
    std::string name = user;
    if (user.find_first_not_of("0123456789") == std::string::npos) {
        // CMU names the user by its id on the current server.
        auto listed = fan_out({source}, operation::list_users, json::object());
        name.clear();
        for (const auto& u : listed[0].outcome.users)
            if (std::to_string(u.id) == user) name = u.name;
        if (name.empty()) {
            fmt::print(err_, "{}: no user with id {} on {}\n", spec.name, user,
                       server_label(source, link_->server(source).name));
            return line_result::failed;
        }
    } else if (!valid_user_name(user)) {
        throw usage_error(std::string(status_description(status::invalid_user_name)));
    }
    auto got = fan_out({source}, *spec.op, json{{"name", name}});
    auto record = record_of(got[0]);
    if (!record && got[0].outcome.ok()) {
        fmt::print(err_, "{}: {} sent no readable record of {}\n", spec.name,
                   server_label(source, link_->server(source).name), name);
        return line_result::failed;
    }
    if (!record) return finish(spec.name, got);
    if (!link_->connected(destination)) targets(); // reconnect a lost one
    auto answer = confirm(spec, {destination});
    if (answer != line_result::ok) return answer;
    return run_prepared(spec.name, {destination}, to_fields(user_sync{*record, force}));
}

line_result shell::sync_all(const command_spec& spec, const std::string& name, bool force) {
    auto where = targets();
    auto records = fan_out(where, *spec.op, json{{"name", name}});
    const server_report* newest = nullptr;
    std::optional<sealed_user> newest_record;
    for (const auto& r : records) {
        auto record = record_of(r);
        if (record && (!newest_record || record->version > newest_record->version)) {
            newest = &r;
            newest_record = std::move(record);
        }
    }
    if (!newest) {
        fmt::print(err_, "{}: no server holds user {} (or you may not read it)\n", spec.name, name);
        return finish(spec.name, records);
    }
    std::vector<std::size_t> behind;
    for (const auto& r : records) {
        bool same = r.outcome.ok() && string_field(r.outcome.fields, "digest") ==
                                          string_field(newest->outcome.fields, "digest");
        bool missing = r.outcome.what == server_outcome::kind::replied &&
                       r.outcome.code == status::user_not_found;
        if (!same && (r.outcome.ok() || missing)) behind.push_back(r.index);
    }
    // A server that could not be asked (no answer, a lost login) may lack
    // the user or hold an older record: the result is partial, never "the same".
    auto blind = unasked(records, status::user_not_found);
    if (behind.empty()) {
        if (blind.empty()) {
            fmt::print(out_, "{}: {} is the same on every server; nothing to do\n", spec.name,
                       name);
            return line_result::ok;
        }
        fmt::print(info(),
                   "{}: {} is the same on the {} servers that answered; nothing was "
                   "changed.\n",
                   spec.name, name, records.size() - blind.size());
        return partial_sync(spec, name, records, blind);
    }
    if (refused_by_quorum(spec, name, behind)) return refused(spec);
    fmt::print(info(), "The newest record of {} is on {}.\n", name,
               server_label(newest->index, newest->name));
    auto answer = confirm(spec, behind);
    if (answer != line_result::ok) return answer;
    auto result = run_prepared(spec.name, behind, to_fields(user_sync{*newest_record, force}));
    return blind.empty() ? result : partial_sync(spec, name, {}, blind);
}

line_result shell::partial_sync(const command_spec& spec, const std::string& name,
                                const std::vector<server_report>& records,
                                const std::vector<server_report>& blind) {
    if (options_.json && !records.empty()) emit(result_json(spec.name, records));
    fmt::print(info(),
               "{}: partial: could not look at {} on {}. Once it answers (loginHSM there if "
               "its login was lost), {} {} --all looks again.\n",
               spec.name, name, describe_unasked(blind), spec.name, name);
    return line_result::failed;
}

} // namespace hsm
