// SPDX-License-Identifier: Apache-2.0
// One run of the shell: config, connections, line source, exit status.
#pragma once

#include "shell.hpp"

#include <memory>
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
    int password_fd = -1;              // --password-fd: passwords from this descriptor
};

/// Takes HSMSH_PASSWORD out of the environment (so that no child inherits
/// it, and the process's environment block no longer holds it) and returns
/// it; null when unset. Call it before anything is spawned.
std::shared_ptr<const secret> take_environment_password();

/// Loads the config, connects, runs the lines from -e, -f, the terminal or
/// stdin, and returns the exit status of hsmsh(1) (docs/design.md, "Exit status"). Never throws.
int run_session(const session_options& options);

} // namespace hsm
