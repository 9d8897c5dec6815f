// SPDX-License-Identifier: Apache-2.0
// The shell's commands: login, user changes with confirmation, info, server mode, help.
#include "hsmsh/hex.hpp"
#include "hsmsh/kdf.hpp"
#include "shell.hpp"

#include "cluster_link.hpp"

#include "terminal_input.hpp"

#include <fmt/format.h>
#include <fmt/ostream.h>

namespace hsm {
namespace {

struct named_user {
    user_type type;
    std::string name;
};

named_user check_user(const parsed_command& cmd) {
    auto type = user_type_from_name(cmd.args.at(0));
    if (!type)
        throw usage_error(
            fmt::format("unknown user type '{}': use PRECO, CO, PCO, CU or AU", cmd.args.at(0)));
    if (!valid_user_name(cmd.args.at(1)))
        throw usage_error(std::string(status_description(status::invalid_user_name)));
    return {*type, canonical_user_name(cmd.args.at(1))};
}

// CMU's line before a user change's results, from the command's table entry.
std::string lead_line(const command_spec& spec, const named_user& u, std::size_t nodes) {
    return fmt::format(fmt::runtime(spec.lead),
                       fmt::format("{}({})", u.name, user_type_name(u.type)), nodes);
}

} // namespace

std::optional<secret> shell::obtain_password(const parsed_command& cmd, line_result& failure) {
    if (cmd.inline_password) return secret(std::string(*cmd.inline_password));
    auto first = input_.read_password("Enter password:");
    if (!first) {
        if (input_.interactive()) {
            failure = line_result::cancelled;
            fmt::print(err_, "Cancelled.\n");
        } else {
            usage(fmt::format("{} expects a password line", cmd.spec->name));
            failure = line_result::protocol_error;
        }
        return std::nullopt;
    }
    if (cmd.spec->new_password && input_.interactive()) {
        auto again = input_.read_password("Re-enter password:");
        if (!again || !again->equals(*first)) {
            fmt::print(err_, "The passwords do not match; nothing was changed.\n");
            failure = line_result::failed;
            return std::nullopt;
        }
    }
    return first;
}

line_result shell::declined(const command_spec& spec) {
    // A script reading --json learns that nothing ran, and why.
    if (options_.json)
        fmt::print(out_, "{}\n", json{{"command", spec.name}, {"declined", true}}.dump());
    return line_result::cancelled;
}

line_result shell::confirm(const command_spec& spec, const std::vector<std::size_t>& where) {
    if (!asks_confirmation(spec, options_.confirmations)) return line_result::ok;
    auto command = spec.name;
    auto& o = info();
    fmt::print(o,
               "*************************CAUTION********************************\n"
               "This is a CRITICAL operation. {} will change the users of:\n",
               command);
    std::vector<std::string> absent;
    for (auto i : where) {
        auto label = server_label(i, link_->server(i).name);
        if (link_->connected(i))
            fmt::print(o, "    {}\n", label);
        else
            absent.push_back(label);
    }
    for (const auto& label : absent)
        fmt::print(o,
                   "WARNING: {} is not connected: it cannot prepare the change, so the\n"
                   "change is aborted everywhere unless you choose to leave it behind.\n",
                   label);
    if (where.size() < link_->size())
        fmt::print(o, "Only {} of the {} configured servers are addressed (server mode).\n",
                   where.size(), link_->size());
    fmt::print(o, "****************************************************************\n\n");
    if (options_.assume_yes) return line_result::ok;
    for (;;) {
        fmt::print(o, "Do you want to continue(y/n)?");
        o.flush();
        auto answer = input_.read_answer("");
        if (!input_.interactive()) fmt::print(o, "\n");
        if (auto yes = answer ? parse_yes_no(*answer) : std::nullopt)
            return *yes ? line_result::ok : declined(spec);
        if (!input_.interactive() || !answer) {
            if (!input_.interactive()) {
                usage(fmt::format("{} expects a line 'y' or 'n' to confirm", command));
                return line_result::protocol_error;
            }
            return declined(spec);
        }
        fmt::print(o, "Invalid option, please type 'y' or 'n'\n\n");
    }
}

line_result shell::run_user_change(parsed_command& cmd) {
    auto user = check_user(cmd);
    line_result failure = line_result::failed;
    std::optional<secret> password;
    if (cmd.spec->password_arg >= 0) {
        password = obtain_password(cmd, failure);
        if (!password) return failure;
        if (!valid_password(password->view()))
            throw usage_error(std::string(status_description(status::password_policy)));
    }
    auto where = targets();
    if (live(where) == 0) {
        fmt::print(err_, "{}: no server is connected; nothing was changed\n", cmd.spec->name);
        return line_result::failed;
    }
    auto answer = confirm(*cmd.spec, where);
    if (answer != line_result::ok) {
        if (answer == line_result::cancelled) fmt::print(info(), "Nothing was changed.\n");
        return answer;
    }
    if (!options_.json) fmt::print(out_, "{}\n", lead_line(*cmd.spec, user, live(where)));
    json fields{{"type", user_type_name(user.type)},
                {"name", user.name},
                {"change", operation_name(*cmd.spec->op)}};
    if (password) {
        fields["password"] = std::string(password->view());
        // One salt for every node: the same credentials everywhere (see record digests).
        fields["salt"] = random_hex(salt_size);
    }
    auto result = run_prepared(cmd.spec->name, where, std::move(fields));
    if (result == line_result::ok) note_activation(cmd, where);
    return result;
}

line_result shell::run_prepared(std::string_view command, const std::vector<std::size_t>& where,
                                json fields) {
    two_phase_change change([this](const std::vector<std::size_t>& servers, operation op,
                                   const json& f) { return fan_out(servers, op, f); },
                            [this, command](const std::vector<server_report>& failed) {
                                return choose_after_failure(command, failed);
                            });
    auto reports = change.run(where, std::move(fields));
    if (options_.json)
        print_phase_json(out_, command, reports);
    else
        print_phase_lines(out_, command, reports, options_.color);
    bool all = std::ranges::all_of(
        reports, [](const auto& r) { return r.result == phase_result::committed; });
    return all ? line_result::ok : line_result::failed;
}

partial_choice shell::choose_after_failure(std::string_view command,
                                           const std::vector<server_report>& failed) {
    if (!input_.interactive())
        return options_.allow_partial ? partial_choice::ignore : partial_choice::abort;
    auto& o = info();
    for (const auto& f : failed) {
        fmt::print(o, "{} failed: {}\n", command, outcome_code(f.outcome));
        fmt::print(o, "preparing on {} failed\n", server_label(f.index, f.name));
    }
    for (;;) {
        fmt::print(o, "\nRetry/Ignore/Abort?(R/I/A):");
        o.flush();
        auto answer = input_.read_answer("");
        if (!answer || *answer == "A" || *answer == "a") return partial_choice::abort;
        if (*answer == "R" || *answer == "r") return partial_choice::retry;
        if (*answer == "I" || *answer == "i") return partial_choice::ignore;
        fmt::print(o, "Invalid option, please type 'R', 'I' or 'A'\n");
    }
}

line_result shell::run_login(parsed_command& cmd) {
    auto user = check_user(cmd);
    line_result failure = line_result::failed;
    auto password = obtain_password(cmd, failure);
    if (!password) return failure;
    auto where = targets();
    json fields{{"type", user_type_name(user.type)},
                {"name", user.name},
                {"password", std::string(password->view())}};
    auto reports = fan_out(where, operation::login, std::move(fields));
    for (const auto& r : reports)
        if (r.outcome.ok()) logins_[r.index] = login_state{user.name, user.type};
    return finish(cmd.spec->name, reports);
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
        out_ << doc.dump() << '\n';
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
            out_ << json{{"command", cmd.spec->name},
                         {"cluster_id", c.cluster_id},
                         {"current", current},
                         {"servers", c.servers.size()}}
                        .dump()
                 << '\n';
            continue;
        }
        fmt::print(out_, "{} {:<24} {} servers{}\n", current ? '*' : ' ', c.cluster_id,
                   c.servers.size(), c.cluster_id == config_.default_cluster ? " (default)" : "");
    }
    return line_result::ok;
}

line_result shell::use_cluster(parsed_command& cmd) {
    const auto& id = cmd.args.at(0);
    if (std::none_of(config_.clusters.begin(), config_.clusters.end(),
                     [&](const auto& c) { return c.cluster_id == id; }))
        throw usage_error(fmt::format("no cluster '{}' in {}: listClusters shows them", id,
                                      config_.path.string()));
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
        for (const auto& c : command_table())
            fmt::print(out_, "  {:<12} {}\n", c.name, c.summary);
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
    return line_result::ok;
}

std::vector<std::string> shell::complete(const std::vector<std::string>& before,
                                         const std::string& partial) {
    std::vector<std::string> out;
    auto offer = [&](std::string_view candidate) {
        if (candidate.starts_with(partial)) out.emplace_back(candidate);
    };
    if (before.empty()) {
        for (const auto& c : command_table())
            offer(c.name);
        return out;
    }
    auto found = find_command(before.front());
    if (!found.spec || before.size() != 1) return out;
    if (found.spec->completes == completion::user_types)
        for (auto t : completion_user_types())
            offer(t);
    if (found.spec->completes == completion::commands)
        for (const auto& c : command_table())
            offer(c.name);
    return out;
}

} // namespace hsm
