// SPDX-License-Identifier: Apache-2.0
// What a command handler works with: the parts of the shell, by reference.
#pragma once

#include "change_runner.hpp"
#include "cluster_io.hpp"
#include "hsmsh/client/config.hpp"
#include "line_input.hpp"
#include "session_state.hpp"
#include "shell_options.hpp"
#include "shell_output.hpp"

namespace hsm {

/// The parts of the shell a command handler may use (the shell owns them
/// all and outlives every handler call). A handler gets the context and its
/// parsed command, never the line it came from.
struct shell_context {
    const shell_options& options;
    client_config& config; // read again by useCluster when it names a new cluster
    line_input& input;
    shell_output& output;
    session_state& session;
    cluster_io& cluster;
    change_runner& changes;
};

} // namespace hsm
