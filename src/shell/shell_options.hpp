// SPDX-License-Identifier: Apache-2.0
// What a run of the shell is told (its options) and what a line and a run
// come to (line results, exit statuses).
#pragma once

#include "command_table.hpp"
#include "hsmsh/secret.hpp"

#include <memory>

namespace hsm {

struct shell_options {
    bool assume_yes = false;    // -y: no y/n question (the banner still prints)
    bool json = false;          // --json
    bool keep_going = false;    // --keep-going
    bool echo = false;          // --echo
    bool quiet = false;         // --quiet: no connection chatter
    bool cmu_mode = false;      // cloudhsm_mgmt_util or --cmu-compat: CMU's prompt and texts
    bool color = false;         // resolved --color
    bool from_argv = false;     // commands came from -e: inline passwords refused
    bool allow_partial = false; // batch: commit where prepared when a server refuses
    bool wait_notices = false;  // standard error is a terminal: name the servers waited for
    confirmation_set confirmations = confirmation_set::hsmsh; // --cmu-compat: CMU's
    std::shared_ptr<const secret> login_password; // HSMSH_PASSWORD: loginHSM's, when not typed
};

/// What running one line came to.
enum class line_result { ok, failed, usage_error, protocol_error, cancelled, quit };

/// Exit statuses (docs/design.md, "Exit status").
inline constexpr int exit_ok = 0;
inline constexpr int exit_failed = 1;
inline constexpr int exit_usage = 2;
inline constexpr int exit_connection = 3;
inline constexpr int exit_interrupted = 130;

} // namespace hsm
