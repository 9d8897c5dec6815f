// SPDX-License-Identifier: Apache-2.0
// How results look: CMU's text shapes, and one JSON object per command.
#pragma once

#include "hsmsh/client/two_phase.hpp"
#include "hsmsh/outcome.hpp"

#include <functional>
#include <ostream>
#include <string>
#include <vector>

namespace hsm {

/// `server 0(127.0.0.1:2225)`.
std::string server_label(std::size_t index, const std::string& name);

/// The machine-readable code of an outcome: a status name, or TIMEOUT,
/// CONNECTION_LOST, NOT_CONNECTED, CANCELLED, TLS_ERROR.
std::string outcome_code(const server_outcome& o);

/// A sentence explaining a failed outcome.
std::string outcome_message(const server_outcome& o);

/// `<command> success on server N(name)` or `... failed on server N(name): CODE`.
void print_server_lines(std::ostream& out, std::string_view command,
                        const std::vector<server_report>& reports, bool color = false);

/// CMU's listUsers block for one server (a failure as `command`'s line).
void print_user_table(std::ostream& out, std::string_view command, const server_report& report);

/// CMU-like getHSMInfo block for one server.
void print_hsm_info(std::ostream& out, std::string_view command, const server_report& report);

/// One server's prepared changes: id, kind, user, who prepared it, and the
/// seconds until the node resolves it (a failure as `command`'s line).
void print_prepared(std::ostream& out, std::string_view command, const server_report& report,
                    bool color = false);

/// `{"command":...,"ok":...,"servers":[...]}`; the replies of `op` add what
/// they carry: list_users each server's users, hsm_info its info,
/// list_prepared its prepared changes.
json result_json(std::string_view command, const std::vector<server_report>& reports,
                 std::optional<operation> op = std::nullopt, json summary = json(),
                 json covered = json());

/// What a command adds to the entry of a server that succeeded.
using server_detail = std::function<void(json& entry, const server_report& report)>;

/// result_json without an operation's additions, each successful server's
/// entry completed by `detail`.
json result_json(std::string_view command, const std::vector<server_report>& reports,
                 const server_detail& detail);

/// A two-phase change's per-server lines and, when not every server
/// committed, a summary saying what was and was not changed.
void print_phase_lines(std::ostream& out, std::string_view command,
                       const std::vector<phase_report>& reports, bool color = false);

/// The JSON form, each server with its phase and outcome.
json phase_json(std::string_view command, const std::vector<phase_report>& reports);

/// One JSON document on one line; bytes that are not UTF-8 are replaced.
void print_json_line(std::ostream& out, const json& doc);

} // namespace hsm
