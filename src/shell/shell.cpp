// SPDX-License-Identifier: Apache-2.0
// The shell: command dispatch and session state.
#include "shell.hpp"

#include "divergence.hpp"
#include "hsmsh/cluster_link.hpp"
#include "hsmsh/log.hpp"
#include "terminal_input.hpp"

#include <algorithm>

#include <fmt/format.h>
#include <fmt/ostream.h>
#include <fmt/ranges.h>

namespace hsm {

shell::shell(client_config config, const std::string& cluster, duration connect_timeout,
             duration request_timeout, line_input& input, std::ostream& out, std::ostream& err,
             shell_options options)
    : config_(std::move(config)), connect_timeout_(connect_timeout),
      request_timeout_(request_timeout), input_(input), out_(out), err_(err), options_(options) {
    open_cluster(cluster);
}

shell::~shell() = default;

void shell::disconnect() {
    link_->close_all();
}

const std::string& shell::cluster_id() const noexcept {
    return link_->cluster_id();
}

void shell::open_cluster(const std::string& id) {
    auto next =
        std::make_unique<cluster_link>(config_.select(id), connect_timeout_, request_timeout_);
    if (link_) link_->close_all();
    link_ = std::move(next);
    if (options_.wait_notices)
        link_->on_slow(slow_notice_after, [this](const auto& slow) { tell_waiting(slow); });
    server_mode_.reset();
    logins_.assign(link_->size(), std::nullopt);
    ever_connected_.assign(link_->size(), false);
    listed_.assign(link_->size(), std::nullopt);
    certificates_.assign(link_->size(), std::string());
}

void shell::tell_waiting(const slow_servers& slow) {
    std::vector<std::string> labels;
    for (auto i : slow.waiting)
        labels.push_back(server_label(i, link_->server(i).name));
    fmt::print(err_, "hsmsh: waiting for {} ({} gives up after {:g} s: {}{})\n",
               fmt::join(labels, ", "), slow.connecting ? "connecting" : "the request",
               std::chrono::duration<double>(slow.limit).count(),
               slow.connecting ? "--connect-timeout" : "--timeout",
               input_.interactive() ? "; Ctrl-C stops waiting" : "");
    err_.flush();
}

std::ostream& shell::info() {
    return options_.json ? err_ : out_;
}

std::ostream& shell::chatter() {
    return options_.cmu_mode && !options_.json ? out_ : err_;
}

std::size_t shell::connect_all() {
    std::vector<std::size_t> all(link_->size());
    for (std::size_t i = 0; i < all.size(); ++i)
        all[i] = i;
    // Connection chatter goes to standard error, so that standard output
    // holds the commands' results alone (CMU mode: standard output, as CMU);
    // --quiet drops all but failures.
    auto& o = chatter();
    if (options_.cmu_mode && !options_.quiet)
        fmt::print(o, "\nConnecting to the server(s), it may take time\n"
                      "depending on the server(s) load, please wait...\n\n");
    auto results = link_->connect(all);
    std::size_t connected = 0;
    for (auto i : all) {
        const auto& s = link_->server(i);
        if (!options_.quiet)
            fmt::print(o, "Connecting to server '{}': hostname '{}', port {}...\n", s.name,
                       s.hostname, s.port);
        if (results[i].ok) {
            ++connected;
            ever_connected_[i] = true;
            certificates_[i] = results[i].hello.certificate_pem;
            if (options_.quiet) continue;
            fmt::print(o, "Connected to server '{}': hostname '{}', port {}.\n", s.name, s.hostname,
                       s.port);
            if (options_.cmu_mode) fmt::print(o, "E2E enabled on {}\n", server_label(i, s.name));
        } else {
            fmt::print(o, "Connection to server '{}': hostname '{}', port {} failed: {}\n", s.name,
                       s.hostname, s.port, results[i].error);
        }
    }
    if (connected > 0 && connected < link_->size())
        fmt::print(err_,
                   "WARNING: only {} of {} servers connected: commands will not reach "
                   "the others\n",
                   connected, link_->size());
    o.flush();
    return connected;
}

std::string shell::prompt() const {
    // CMU's prompts, exactly: scripts written for CMU wait for them.
    if (options_.cmu_mode)
        return server_mode_ ? fmt::format("server{}>", *server_mode_) : "aws-cloudhsm>";
    std::string p = "hsmsh";
    if (config_.clusters.size() > 1) p += fmt::format("({})", link_->cluster_id());
    // Only a login a connected server still holds: a lost connection took its login along.
    for (std::size_t i = 0; i < logins_.size(); ++i)
        if (const auto& l = logins_[i]; l && link_->connected(i)) {
            p += fmt::format(":{}({})", l->name, user_type_name(l->type));
            break;
        }
    if (server_mode_) p += fmt::format("[server{}]", *server_mode_);
    return p + "> ";
}

int shell::run() {
    int worst = exit_ok;
    bool batch = !input_.interactive();
    while (auto line = input_.read_command(batch ? "" : prompt())) {
        if (batch && interrupt_requested.load()) return exit_interrupted;
        auto result = run_line(std::move(*line));
        if (batch && interrupt_requested.load()) return exit_interrupted;
        interrupt_requested.store(false);
        if (result == line_result::quit) break;
        if (!batch) continue;
        if (result == line_result::protocol_error) return exit_usage;
        int status = result == line_result::failed        ? exit_failed
                     : result == line_result::usage_error ? exit_usage
                                                          : exit_ok;
        worst = std::max(worst, status);
        if (status != exit_ok && !options_.keep_going) return status;
    }
    if (batch && interrupt_requested.load()) return exit_interrupted;
    return batch ? worst : exit_ok;
}

line_result shell::usage(const std::string& message, bool about_answer) {
    // The message may quote what was typed: no control byte reaches the terminal.
    auto text = escape_terminal(message);
    // A command's line (-e's number too); an answer or password may come
    // from another source, which answer_place() names.
    auto place = about_answer               ? input_.answer_place()
                 : input_.line_number() > 0 ? fmt::format("line {}", input_.line_number())
                                            : std::string();
    if (!place.empty())
        fmt::print(err_, "hsmsh: {}: {}\n", place, text);
    else
        fmt::print(err_, "hsmsh: {}\n", text);
    if (!input_.interactive()) refused_line_ = input_.line_number();
    return line_result::usage_error;
}

line_result shell::run_line(std::string line) {
    std::optional<parsed_command> cmd;
    try {
        cmd = parse_command(split_words(line));
    } catch (const usage_error& e) {
        // Kept for recall and correction, without what may be a password.
        bool hidden = !line.empty() && line.front() == ' ';
        if (auto kept = history_text_of_failed(line); kept && !hidden) input_.remember(*kept);
        wipe(line);
        if (refused_line_) {
            // Most likely the password or y/n line of the refused command:
            // never repeat it, it may be a secret.
            fmt::print(err_,
                       "hsmsh: line {}: skipped, not a command (a password or answer "
                       "for line {}?)\n",
                       input_.line_number(), *refused_line_);
            return line_result::usage_error;
        }
        return usage(e.what());
    }
    refused_line_.reset();
    bool hidden = !line.empty() && line.front() == ' ';
    wipe(line);
    if (!cmd) return line_result::ok;
    auto kept = cmd->history_text();
    // Quoting can lengthen a line past the limit; history keeps only lines
    // that can be recalled and run again.
    if (!hidden && kept.size() <= max_line_length) input_.remember(kept);
    if (options_.echo) fmt::print(out_, "{}\n", kept);
    args_ = cmd->args;
    try {
        auto result = execute(*cmd);
        if (cmd->inline_password) wipe(*cmd->inline_password);
        out_.flush();
        return result;
    } catch (const usage_error& e) {
        if (cmd->inline_password) wipe(*cmd->inline_password);
        return usage(e.what());
    }
}

void shell::emit(json doc) {
    doc["args"] = args_;
    print_json_line(out_, doc);
}

line_result shell::execute(parsed_command& cmd) {
    const auto& spec = *cmd.spec;
    if (spec.scope == command_scope::server_only && !server_mode_)
        throw usage_error(fmt::format("{} works in server mode only (server N)", spec.name));
    if (spec.scope == command_scope::global_only && server_mode_)
        throw usage_error(fmt::format("{} does not work in server mode: exit first", spec.name));
    if (cmd.inline_password && options_.from_argv)
        throw usage_error("passwords are not accepted on the command line (-e): use -hpswd "
                          "and give the password on standard input");
    return (this->*spec.handler)(cmd);
}

std::vector<std::size_t> shell::targets() {
    std::vector<std::size_t> wanted;
    if (server_mode_)
        wanted.push_back(*server_mode_);
    else
        for (std::size_t i = 0; i < link_->size(); ++i)
            wanted.push_back(i);
    std::vector<std::size_t> lost;
    for (auto i : wanted)
        if (!link_->connected(i) && ever_connected_[i]) lost.push_back(i);
    if (!lost.empty()) {
        auto results = link_->connect(lost);
        for (std::size_t k = 0; k < lost.size(); ++k) {
            auto label = server_label(lost[k], link_->server(lost[k]).name);
            if (!results[k].ok) {
                fmt::print(err_, "Reconnecting to {} failed: {}\n", label, results[k].error);
                continue;
            }
            certificates_[lost[k]] = results[k].hello.certificate_pem;
            fmt::print(err_, "Reconnected to {}", label);
            if (logins_[lost[k]])
                fmt::print(err_, ": the login there was lost, run loginHSM again");
            fmt::print(err_, "\n");
            logins_[lost[k]].reset();
        }
    }
    return wanted;
}

std::size_t shell::live(const std::vector<std::size_t>& servers) const {
    return static_cast<std::size_t>(
        std::ranges::count_if(servers, [&](auto i) { return link_->connected(i); }));
}

std::vector<server_report> shell::fan_out(const std::vector<std::size_t>& targets, operation op,
                                          json fields, bool interruptible) {
    auto outcomes =
        link_->call(targets, op, fields, interruptible ? &interrupt_requested : nullptr);
    wipe_password(fields);
    std::vector<server_report> reports;
    for (std::size_t k = 0; k < targets.size(); ++k)
        reports.push_back({targets[k], link_->server(targets[k]).name, std::move(outcomes[k])});
    return reports;
}

line_result shell::finish(std::string_view command, const std::vector<server_report>& reports) {
    if (options_.json)
        emit(result_json(command, reports));
    else
        print_server_lines(out_, command, reports, options_.color);
    bool all_ok = std::ranges::all_of(reports, [](const auto& r) { return r.outcome.ok(); });
    if (interrupted(reports)) return line_result::cancelled;
    return all_ok && !reports.empty() ? line_result::ok : line_result::failed;
}

line_result shell::run_query(parsed_command& cmd) {
    auto op = *cmd.spec->op;
    bool summary_only = !cmd.args.empty();
    bool check = summary_only && cmd.args.front() == "--check";
    if (summary_only && !check && cmd.args.front() != "--summary")
        throw usage_error(fmt::format("usage: {}", cmd.spec->synopsis));
    auto where = targets();
    if (op == operation::hsm_info && !options_.json)
        fmt::print(out_, "Getting HSM Info on {} nodes\n", live(where));
    auto reports = fan_out(where, op, json::object());
    std::vector<user_comparison> comparison;
    if (op == operation::list_users) {
        comparison = compare_users(reports);
        for (const auto& r : reports)
            if (r.outcome.ok()) listed_[r.index] = r.outcome.users;
    }
    auto answered = static_cast<std::size_t>(
        std::ranges::count_if(reports, [](const auto& r) { return r.outcome.ok(); }));
    if (options_.json) {
        emit(result_json(cmd.spec->name, reports, op,
                         op == operation::list_users ? comparison_json(comparison) : json(),
                         op == operation::list_users
                             ? json{{"answered", answered}, {"servers", reports.size()}}
                             : json()));
    } else if (summary_only) {
        fmt::print(out_, "Users across {} servers ({} of {} answered):\n", reports.size(), answered,
                   reports.size());
        print_comparison(out_, comparison, reports, false);
    } else {
        for (const auto& r : reports)
            op == operation::list_users ? print_user_table(out_, cmd.spec->name, r)
                                        : print_hsm_info(out_, cmd.spec->name, r);
        if (!all_agree(comparison)) {
            fmt::print(out_, "\n{}\n", comparison_heading(comparison));
            print_comparison(out_, comparison, reports, true);
        }
    }
    bool all_ok = answered == reports.size();
    // --check: for monitoring, every user must be known to agree everywhere.
    if (check && !all_agree(comparison)) return line_result::failed;
    return all_ok ? line_result::ok : line_result::failed;
}

} // namespace hsm
