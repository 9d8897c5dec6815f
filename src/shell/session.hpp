// SPDX-License-Identifier: Apache-2.0
// One run of the shell: config, connections, line source, exit status.
#pragma once

#include "shell.hpp"

#include <string>
#include <vector>

namespace hsm {

enum class color_mode { automatic, always, never };

struct session_options {
    fs::path config;     // empty: default_config_path()
    std::string cluster; // empty: the default cluster
    shell_options shell;
    color_mode color = color_mode::automatic;
    double connect_timeout = 5;        // seconds
    double request_timeout = 30;       // seconds
    std::vector<std::string> commands; // -e
    fs::path script;                   // -f
};

/// Loads the config, connects, runs the lines from -e, -f, the terminal or
/// stdin, and returns the exit status of hsmsh(1) (docs/design.md, "Exit status"). Never throws.
int run_session(const session_options& options);

} // namespace hsm
