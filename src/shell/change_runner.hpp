// SPDX-License-Identifier: Apache-2.0
// How the shell makes a change on the cluster: refused before its banner
// when every server would refuse it, the CAUTION banner and y/n, the
// two-phase run, and what the operator is told when it does not go through.
#pragma once

#include "cluster_io.hpp"
#include "hsmsh/client/two_phase.hpp"
#include "hsmsh/protocol/quorum.hpp"
#include "hsmsh/secret.hpp"

#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

namespace hsm {

/// Runs the shell's changes and asks the operator what they need (passwords,
/// y/n, what to do after a failure). Lives on the terminal thread; the parts
/// it is given outlive it.
class change_runner {
public:
    change_runner(cluster_io& cluster, session_state& session, shell_output& output,
                  line_input& input, const shell_options& options);

    /// The password of `cmd`: given inline, HSMSH_PASSWORD for loginHSM, or
    /// read (twice at a terminal for a new one). Nullopt, with `failure`
    /// set, when there is none.
    std::optional<secret> obtain_password(const parsed_command& cmd, line_result& failure);
    /// Asks `question` and reads the answer. At a terminal the question is
    /// the line editor's prompt, shown once the terminal is ready to take a
    /// Ctrl-C as a key; elsewhere it is printed on `o`.
    std::optional<std::string> ask(std::ostream& o, const std::string& question);
    /// The CAUTION banner and y/n, exactly when the command's table entry
    /// is critical; ok at once otherwise.
    line_result confirm(const command_spec& spec, const std::vector<std::size_t>& targets,
                        std::string_view note = {});
    /// confirm, and "Nothing was changed." when the answer was no.
    line_result confirm_change(const command_spec& spec, const std::vector<std::size_t>& targets,
                               std::string_view note = {});
    /// Says that no server of `where` is connected, when none is: then
    /// nothing can change (true).
    bool none_connected(const command_spec& spec, const std::vector<std::size_t>& where);

    /// Refuses a user change before its banner when every connected target
    /// would refuse it: nobody logged in, a role that may not, or the user
    /// (not) there as last listed. Prints why, per server; false if it may go on.
    bool refused_early(const command_spec& spec, const std::string& name,
                       const std::vector<std::size_t>& where);
    /// Refuses a change under quorum before its banner, once, with the
    /// next step (getToken ...); false if it may go on.
    bool refused_by_quorum(const command_spec& spec, const std::string& name,
                           const std::vector<std::size_t>& where);
    /// After an early refusal: a script's answer to the question that was
    /// not asked is consumed (the script stays in step); failed, or
    /// protocol_error when that line is not y or n.
    line_result refused(const command_spec& spec);
    /// Notes, for an officer's logins on `servers`, which services ask a quorum there.
    void note_quorum(const std::vector<std::size_t>& servers);

    /// A cluster-wide change that is not a user's: the banner and y/n where
    /// the command asks, `lead` ({}: the servers connected), then prepare/commit.
    line_result run_confirmed_change(const parsed_command& cmd, json fields,
                                     std::string_view lead = {});
    /// Runs a two-phase change; `committed` gets the per-server reports;
    /// `extra` joins the --json document.
    line_result run_prepared(std::string_view command, const std::vector<std::size_t>& where,
                             json fields, std::vector<phase_report>* committed = nullptr,
                             json extra = json());

private:
    /// What a quorum asks of a change: its service, and the least m of the servers.
    struct quorum_need {
        quorum::service svc;
        int m;
    };
    /// Why one server would refuse a change.
    struct refusal {
        std::size_t server;
        status code;
        std::string why;
    };

    void print_banner(const command_spec& spec, const std::vector<std::size_t>& where,
                      std::string_view note);
    /// Asks y/n until answered: ok, declined, or protocol_error in a
    /// script that gives no y or n.
    line_result ask_yes_no(const command_spec& spec);
    std::optional<refusal> refusal_on(std::size_t server, const command_spec& spec,
                                      const std::string& name);
    void print_refusals(const command_spec& spec, const std::vector<refusal>& refusals);
    /// When every connected target guards the change with m > 1 and this
    /// login holds no approved token of its service there: what it needs.
    /// Nullopt when it may go on (or some server is in doubt: the nodes
    /// decide). Asks the servers only where the login noted a quorum, so
    /// that without one no server (a stalled one) is waited for before the
    /// banner; the answers, not the note, decide.
    std::optional<quorum_need> quorum_asked(const command_spec& spec, const std::string& name,
                                            const std::vector<std::size_t>& where);
    /// The least m of `svc` on `asked`; nullopt when one has none above 1
    /// or did not answer.
    std::optional<int> least_m(const std::vector<std::size_t>& asked, quorum::service svc);
    void report_prepared(std::string_view command, const std::string& subject,
                         const std::vector<phase_report>& reports, json extra);
    partial_choice choose_after_failure(std::string_view command, const std::string& user,
                                        const std::vector<server_report>& failed);
    /// Says which change holds `user` on servers that answered RET_CONFLICT,
    /// and when it resolves.
    void explain_pending(const std::string& user, const std::vector<server_report>& failed);
    /// After Ctrl-C cut a change off: what was aborted where, what may linger.
    void explain_interrupted(const std::vector<phase_report>& reports);

    cluster_io& cluster_;
    session_state& session_;
    shell_output& output_;
    line_input& input_;
    const shell_options& options_;
};

} // namespace hsm
