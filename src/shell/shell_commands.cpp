// SPDX-License-Identifier: Apache-2.0
// The shell's commands: login, user changes with confirmation, info, server mode, help.
#include "shell.hpp"

#include "columns.hpp"

#include "hsmsh/cluster_link.hpp"

#include "terminal_input.hpp"

#include <algorithm>

#include <fmt/format.h>
#include <fmt/ostream.h>

namespace hsm {
line_result shell::run_login(parsed_command& cmd) {
    auto user = user_arguments(cmd);
    line_result failure = line_result::failed;
    auto password = obtain_password(cmd, failure);
    if (!password) return failure;
    // Where this very login is still held (another node restarted and took
    // only its own login along), logging in again is a no-op, not a failure.
    std::vector<std::size_t> held, send;
    for (auto i : targets()) {
        const auto& l = logins_[i];
        bool same = l && link_->connected(i) && l->name == user.name && l->type == user.type;
        (same ? held : send).push_back(i);
    }
    json fields{{"type", user_type_name(user.type)},
                {"name", user.name},
                {"password", std::string(password->view())}};
    auto reports = fan_out(send, operation::login, std::move(fields));
    if (auto step = second_login_step(cmd, reports); step != line_result::ok) return step;
    std::vector<std::size_t> logged_in;
    for (const auto& r : reports)
        if (r.outcome.ok()) {
            logins_[r.index] = login_state{user.name, user.type};
            logged_in.push_back(r.index);
        }
    if (is_officer(user.type)) note_quorum(logged_in);
    server_outcome still_held;
    still_held.what = server_outcome::kind::replied; // status ok: logged in there
    for (auto i : held)
        reports.push_back({i, link_->server(i).name, still_held});
    std::ranges::sort(reports, {}, &server_report::index);
    auto result = finish(cmd.spec->name, reports);
    if (!held.empty() && !options_.json && !options_.cmu_mode)
        fmt::print(info(), "{}({}) was still logged in on {} of {} servers: nothing sent there\n",
                   user.name, user_type_name(user.type), held.size(), reports.size());
    return result;
}

line_result shell::run_logout(parsed_command& cmd) {
    auto reports = fan_out(targets(), operation::logout, json::object());
    for (const auto& r : reports)
        if (r.outcome.ok()) logins_[r.index].reset();
    return finish(cmd.spec->name, reports);
}

line_result shell::run_exit(parsed_command&) {
    server_mode_.reset();
    return line_result::ok;
}

line_result shell::run_quit(parsed_command&) {
    return line_result::quit;
}

void shell::note_activation(const parsed_command& cmd, const std::vector<std::size_t>& where) {
    // Changing the PRECO's own password activates it as CO.
    if (cmd.spec->op != operation::change_password) return;
    for (auto i : where) {
        auto& l = logins_[i];
        if (l && l->type == user_type::preco && l->name == canonical_user_name(cmd.args.at(1)))
            l->type = user_type::co;
    }
}

line_result shell::run_server(parsed_command& cmd) {
    auto index = parse_server_number(cmd.args.at(0), link_->size());
    if (!index)
        throw usage_error(
            fmt::format("no server {}: servers are 0 to {}", cmd.args.at(0), link_->size() - 1));
    server_mode_ = *index;
    fmt::print(info(), "Server is in 'E2' mode...\n");
    return line_result::ok;
}

line_result shell::run_info(parsed_command& cmd) {
    if (cmd.args.at(0) != "server") throw usage_error("usage: info server <server-number>");
    auto index = parse_server_number(cmd.args.at(1), link_->size());
    if (!index)
        throw usage_error(
            fmt::format("no server {}: servers are 0 to {}", cmd.args.at(1), link_->size() - 1));
    const auto& s = link_->server(*index);
    bool up = link_->connected(*index);
    const auto& l = logins_[*index];
    std::string login = l ? fmt::format("Logged in as '{}({})'", l->name, user_type_name(l->type))
                          : std::string("Not logged in");
    if (options_.json) {
        json doc{{"command", cmd.spec->name},
                 {"ok", true},
                 {"server",
                  {{"index", *index},
                   {"name", s.name},
                   {"hostname", s.hostname},
                   {"port", s.port},
                   {"connected", up},
                   {"login", login}}}};
        emit(std::move(doc));
        return line_result::ok;
    }
    fmt::print(out_, "Id\tName\t\t\tHostname\t\tPort\tState\t\tLoginState\n");
    fmt::print(out_, "{}\t{}\t\t{}\t\t{}\t{}\t{}\n", *index, s.name, s.hostname, s.port,
               up ? "Connected" : "Disconnected", login);
    return line_result::ok;
}

line_result shell::list_clusters(parsed_command& cmd) {
    for (const auto& c : config_.clusters) {
        bool current = c.cluster_id == link_->cluster_id();
        if (options_.json) {
            emit(json{{"command", cmd.spec->name},
                      {"cluster_id", c.cluster_id},
                      {"current", current},
                      {"servers", c.servers.size()}});
            continue;
        }
        fmt::print(out_, "{} {:<24} {} servers{}\n", current ? '*' : ' ', c.cluster_id,
                   c.servers.size(), c.cluster_id == config_.default_cluster ? " (default)" : "");
    }
    return line_result::ok;
}

bool shell::knows_cluster(const std::string& id) {
    auto known = [&] {
        return std::ranges::any_of(config_.clusters,
                                   [&](const auto& c) { return c.cluster_id == id; });
    };
    if (known()) return true;
    // Another terminal may have added it since the shell read the file
    // (configure add-cluster, configure-pkcs11): read it again. The open
    // cluster's link keeps what it was opened with.
    try {
        config_ = load_config(config_.path);
    } catch (const config_error& e) {
        fmt::print(err_, "hsmsh: reading the configuration again: {}\n", e.what());
        return false;
    }
    return known();
}

line_result shell::use_cluster(parsed_command& cmd) {
    const auto& id = cmd.args.at(0);
    if (!knows_cluster(id))
        throw usage_error(fmt::format("no cluster '{}' in {} (read again just now): "
                                      "listClusters shows them",
                                      id, config_.path.string()));
    try {
        open_cluster(id);
    } catch (const config_error& e) {
        fmt::print(err_, "hsmsh: {}\n", e.what());
        return line_result::failed;
    }
    return connect_all() == 0 ? line_result::failed : line_result::ok;
}

line_result shell::help(parsed_command& cmd) {
    if (cmd.args.empty()) {
        fmt::print(out_, "Commands (a unique prefix is enough):\n\n");
        // The summaries in one column, beside the longest name, wrapped to the terminal.
        std::size_t indent = 0;
        for (const auto& c : command_table())
            indent = std::max(indent, c.name.size());
        auto width = terminal_width();
        for (const auto& c : command_table())
            out_ << term_and_text(fmt::format("  {}", c.name), c.summary, indent + 4, width);
        fmt::print(out_, "\nhelp <command> shows its syntax.\n");
        return line_result::ok;
    }
    auto found = find_command(cmd.args.front());
    if (!found.spec) throw usage_error(fmt::format("no help for '{}'", cmd.args.front()));
    const auto& c = *found.spec;
    fmt::print(out_, "{}\n\n{}\n\nWho: {}\nConfirmation: {}\n", c.synopsis, c.summary, c.who,
               c.critical ? "yes (y/n, or -y)" : "no");
    if (c.password_arg >= 0)
        fmt::print(out_, "Password: omit it or give -hpswd to be asked without echo\n");
    if (!c.example.empty()) {
        fmt::print(out_, "\nExample:\n");
        std::string_view rest = c.example;
        while (!rest.empty()) {
            auto end = std::min(rest.find('\n'), rest.size());
            fmt::print(out_, "  {}\n", rest.substr(0, end));
            rest.remove_prefix(std::min(end + 1, rest.size()));
        }
    }
    return line_result::ok;
}

std::vector<std::string> shell::complete(const std::vector<std::string>& before,
                                         const std::string& partial) const {
    completion_sources known;
    for (const auto& c : config_.clusters)
        known.cluster_ids.push_back(c.cluster_id);
    for (const auto& users : listed_)
        if (users)
            for (const auto& u : *users)
                if (std::ranges::find(known.user_names, u.name) == known.user_names.end())
                    known.user_names.push_back(u.name);
    for (auto h : known_handles_)
        known.key_handles.push_back(std::to_string(h));
    return complete_words(before, partial, known);
}

} // namespace hsm
