// SPDX-License-Identifier: Apache-2.0
// The shell: reads lines, dispatches them through the command table, and
// the prompt and completion that show the session.
#include "shell.hpp"

#include "hsmsh/client/cluster_link.hpp"
#include "hsmsh/log.hpp"
#include "terminal_input.hpp"

#include <algorithm>

#include <fmt/format.h>
#include <fmt/ostream.h>

namespace hsm {

shell::shell(client_config config, const std::string& cluster, duration connect_timeout,
             duration request_timeout, line_input& input, std::ostream& out, std::ostream& err,
             shell_options options)
    : config_(std::move(config)), input_(input), options_(std::move(options)),
      output_(out, err, input_, options_),
      cluster_(config_, {connect_timeout, request_timeout}, session_, output_, input_, options_),
      changes_(cluster_, session_, output_, input_, options_), context_{options_, config_,
                                                                        input_,   output_,
                                                                        session_, cluster_,
                                                                        changes_} {
    cluster_.open(cluster);
}

void shell::disconnect() {
    cluster_.disconnect();
}

const std::string& shell::cluster_id() const noexcept {
    return cluster_.cluster_id();
}

std::size_t shell::connect_all() {
    return cluster_.connect_all();
}

std::string shell::prompt() const {
    // CMU's prompts, exactly: scripts written for CMU wait for them.
    const auto& mode = session_.server_mode;
    if (options_.cmu_mode) return mode ? fmt::format("server{}>", *mode) : "aws-cloudhsm>";
    std::string p = "hsmsh";
    if (config_.clusters.size() > 1) p += fmt::format("({})", cluster_.cluster_id());
    // Only a login a connected server still holds: a lost connection took its login along.
    for (std::size_t i = 0; i < session_.logins.size(); ++i)
        if (const auto& l = session_.logins[i]; l && cluster_.link().connected(i)) {
            p += fmt::format(":{}({})", l->name, user_type_name(l->type));
            break;
        }
    if (mode) p += fmt::format("[server{}]", *mode);
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

line_result shell::not_a_command(std::string& line, const usage_error& e) {
    // Kept for recall and correction, without what may be a password.
    bool hidden = !line.empty() && line.front() == ' ';
    if (auto kept = history_text_of_failed(line); kept && !hidden) input_.remember(*kept);
    wipe(line);
    if (auto refused = output_.refused_line()) {
        // Most likely the password or y/n line of the refused command:
        // never repeat it, it may be a secret.
        fmt::print(output_.err(),
                   "hsmsh: line {}: skipped, not a command (a password or answer "
                   "for line {}?)\n",
                   input_.line_number(), *refused);
        return line_result::usage_error;
    }
    return output_.usage(e.what());
}

line_result shell::run_line(std::string line) {
    std::optional<parsed_command> cmd;
    try {
        cmd = parse_command(split_words(line));
    } catch (const usage_error& e) {
        return not_a_command(line, e);
    }
    output_.forget_refused_line();
    bool hidden = !line.empty() && line.front() == ' ';
    wipe(line);
    if (!cmd) return line_result::ok;
    auto kept = cmd->history_text();
    // Quoting can lengthen a line past the limit; history keeps only lines
    // that can be recalled and run again.
    if (!hidden && kept.size() <= max_line_length) input_.remember(kept);
    if (options_.echo) fmt::print(output_.out(), "{}\n", kept);
    output_.set_args(cmd->args);
    try {
        auto result = execute(*cmd);
        if (cmd->inline_password) wipe(*cmd->inline_password);
        output_.out().flush();
        return result;
    } catch (const usage_error& e) {
        if (cmd->inline_password) wipe(*cmd->inline_password);
        return output_.usage(e.what());
    }
}

line_result shell::execute(parsed_command& cmd) {
    const auto& spec = *cmd.spec;
    if (spec.scope == command_scope::server_only && !session_.server_mode)
        throw usage_error(fmt::format("{} works in server mode only (server N)", spec.name));
    if (spec.scope == command_scope::global_only && session_.server_mode)
        throw usage_error(fmt::format("{} does not work in server mode: exit first", spec.name));
    if (cmd.inline_password && options_.from_argv)
        throw usage_error("passwords are not accepted on the command line (-e): use -hpswd "
                          "and give the password on standard input");
    return spec.handler(context_, cmd);
}

std::vector<std::string> shell::complete(const std::vector<std::string>& before,
                                         const std::string& partial) const {
    completion_sources known;
    for (const auto& c : config_.clusters)
        known.cluster_ids.push_back(c.cluster_id);
    known.user_names = session_.listed_names();
    for (auto h : session_.known_handles)
        known.key_handles.push_back(std::to_string(h));
    return complete_words(before, partial, known);
}

} // namespace hsm
