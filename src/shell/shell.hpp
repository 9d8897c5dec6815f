// SPDX-License-Identifier: Apache-2.0
// The shell: reads command lines, runs each through the command table and
// renders the results.
#pragma once

#include "change_runner.hpp"
#include "cluster_io.hpp"
#include "command_line.hpp"
#include "hsmsh/client/config.hpp"
#include "hsmsh/duration.hpp"
#include "line_input.hpp"
#include "session_state.hpp"
#include "shell_context.hpp"
#include "shell_options.hpp"
#include "shell_output.hpp"

#include <ostream>
#include <string>
#include <vector>

namespace hsm {

/// Owns the parts of a session (its state, the cluster's connections, the
/// output, the change runner) and runs lines through the command table,
/// whose handlers get them as a shell_context. Lives on the terminal thread.
class shell {
public:
    /// Opens `cluster` of `config` (the default one when empty). Throws
    /// config_error when it is unknown or its certificates are unreadable.
    shell(client_config config, const std::string& cluster, duration connect_timeout,
          duration request_timeout, line_input& input, std::ostream& out, std::ostream& err,
          shell_options options);
    shell(const shell&) = delete;
    shell& operator=(const shell&) = delete;

    /// Closes every connection with a TLS close_notify (bounded).
    void disconnect();
    const std::string& cluster_id() const noexcept;

    /// Connects every server in parallel and prints CMU's lines. Returns the
    /// number of servers connected.
    std::size_t connect_all();

    /// Reads and runs lines until end of input or quit; returns the exit status.
    int run();

    /// Runs one line.
    line_result run_line(std::string line);

    std::string prompt() const;

    /// Offers completions for Tab: command names, user types, help topics,
    /// user names as last listed, cluster ids.
    std::vector<std::string> complete(const std::vector<std::string>& before,
                                      const std::string& partial) const;

private:
    line_result execute(parsed_command& cmd);
    /// A line that does not parse: kept for history without what may be a
    /// password, and said to be the refused command's password or answer
    /// when it follows one in a script.
    line_result not_a_command(std::string& line, const usage_error& e);

    client_config config_;
    line_input& input_;
    shell_options options_;
    shell_output output_;
    session_state session_;
    cluster_io cluster_;
    change_runner changes_;
    shell_context context_;
};

} // namespace hsm
