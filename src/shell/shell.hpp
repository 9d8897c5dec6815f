// SPDX-License-Identifier: Apache-2.0
// The shell: runs command lines against the cluster and renders the results.
#pragma once

#include "authdata.hpp"
#include "command_line.hpp"
#include "hsmsh/config.hpp"
#include "hsmsh/duration.hpp"
#include "hsmsh/outcome.hpp"
#include "hsmsh/quorum.hpp"
#include "hsmsh/second_factor.hpp"
#include "hsmsh/two_phase.hpp"
#include "line_input.hpp"
#include "render.hpp"

#include "hsmsh/user_rules.hpp"

#include <memory>
#include <optional>
#include <ostream>
#include <set>

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

class cluster_link;

/// After how long the shell names the servers it still waits for.
inline constexpr duration slow_notice_after = std::chrono::seconds(2);

/// Holds the session state (server mode, who is logged in where) and runs
/// commands. Lives on the terminal thread.
class shell {
public:
    /// Opens `cluster` of `config` (the default one when empty). Throws
    /// config_error when it is unknown or its certificates are unreadable.
    shell(client_config config, const std::string& cluster, duration connect_timeout,
          duration request_timeout, line_input& input, std::ostream& out, std::ostream& err,
          shell_options options);
    ~shell();
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
    /// The answer was no: says so in JSON mode; cancelled.
    line_result declined(const command_spec& spec);

    /// Offers completions for Tab: command names, user types, help topics,
    /// user names as last listed, cluster ids.
    std::vector<std::string> complete(const std::vector<std::string>& before,
                                      const std::string& partial) const;

    // The commands' handlers, one per entry of the command table, which
    // names them; the table's executor calls them (execute).
    line_result run_user_change(parsed_command& cmd);
    line_result run_register_quorum_key(parsed_command& cmd);
    line_result run_set_key_quota(parsed_command& cmd);
    line_result run_sync(parsed_command& cmd);
    line_result run_login(parsed_command& cmd);
    line_result run_logout(parsed_command& cmd);
    line_result run_query(parsed_command& cmd);
    line_result run_info(parsed_command& cmd);
    line_result run_server(parsed_command& cmd);
    line_result run_exit(parsed_command& cmd);
    line_result run_quit(parsed_command& cmd);
    line_result help(parsed_command& cmd);
    line_result list_clusters(parsed_command& cmd);
    line_result list_prepared(parsed_command& cmd);
    line_result abort_prepared(parsed_command& cmd);
    line_result use_cluster(parsed_command& cmd);
    line_result run_enable_e2e(parsed_command& cmd);
    line_result run_get_cert(parsed_command& cmd);
    line_result run_get_m_value(parsed_command& cmd);
    line_result run_set_m_value(parsed_command& cmd);
    line_result run_get_token(parsed_command& cmd);
    line_result run_approve_token(parsed_command& cmd);
    line_result run_list_tokens(parsed_command& cmd);
    line_result run_delete_token(parsed_command& cmd);
    line_result run_quorum_status(parsed_command& cmd);
    line_result run_find_keys(parsed_command& cmd);
    line_result run_key_info(parsed_command& cmd);
    line_result run_list_attributes(parsed_command& cmd);
    line_result run_get_attribute(parsed_command& cmd);
    line_result run_share_key(parsed_command& cmd);
    line_result run_generate_key(parsed_command& cmd);
    line_result run_destroy_key(parsed_command& cmd);
    line_result run_set_attribute(parsed_command& cmd);
    line_result run_sync_key(parsed_command& cmd);

private:
    struct login_state {
        std::string name;
        user_type type;
        // The services whose m was above 1 there when an officer logged in
        // (or set it): where a change may be refused before its banner.
        std::set<quorum::service> under_quorum = {};
    };

    line_result execute(parsed_command& cmd);
    line_result sync_all(const command_spec& spec, const std::string& name, bool force);
    /// Says that `blind` could not be asked about `name` (with --json,
    /// `records` as the command's document when given); failed.
    line_result partial_sync(const command_spec& spec, const std::string& name,
                             const std::vector<server_report>& records,
                             const std::vector<server_report>& blind);
    line_result sync_to(const command_spec& spec, const std::string& user, std::size_t destination,
                        bool force);
    /// Runs a two-phase change; `committed` gets the per-server reports;
    /// `extra` joins the --json document.
    line_result run_prepared(std::string_view command, const std::vector<std::size_t>& where,
                             json fields, std::vector<phase_report>* committed = nullptr,
                             json extra = json());
    /// A cluster-wide change that is not a user's: the banner and y/n where
    /// the command asks, `lead` ({}: the servers connected), then prepare/commit.
    line_result run_confirmed_change(parsed_command& cmd, json fields, std::string_view lead = {});
    /// Prints `text`, and writes it to `file` when one is named.
    line_result deliver(const std::string& text, const std::optional<std::string>& file,
                        line_result result);
    partial_choice choose_after_failure(std::string_view command, const std::string& user,
                                        const std::vector<server_report>& failed);
    void open_cluster(const std::string& id);
    /// Whether the configuration names cluster `id`, reading the file again
    /// when it does not (another terminal may have added it).
    bool knows_cluster(const std::string& id);

    std::optional<secret> obtain_password(const parsed_command& cmd, line_result& failure);

    // Two-factor login (two_factor_commands.cpp).
    /// Writes the digests to sign for `challenges` (replies with hsm_id and
    /// challenge) to the command's -2fa file, waits for the officer, and
    /// reads the signatures (and with `wants_key` the public key) back. The
    /// shell computes every Digest itself (second_factor_digest: `purpose`,
    /// the server's HSM id, `user`, its challenge, this connection's
    /// binding): a server never chooses what the officer signs. Nullopt,
    /// with `failure` set, when it cannot go on; a bad file is a usage error.
    std::optional<authdata_answer> authdata_round(const parsed_command& cmd,
                                                  const std::vector<server_report>& challenges,
                                                  second_factor_purpose purpose,
                                                  const std::string& user, line_result& failure);
    /// loginHSM's second step on the servers that asked for it.
    line_result second_login_step(const parsed_command& cmd, std::vector<server_report>& reports);
    /// The "two_fa" fields of createUser/changePswd -2fa: key and signatures.
    std::optional<json> enrollment_proof(const parsed_command& cmd,
                                         const std::vector<std::size_t>& where,
                                         line_result& failure);
    bool has_second_factor(const std::string& name, const std::vector<std::size_t>& where);
    /// A user change after its arguments: early refusal, the banner and y/n,
    /// CMU's lead line and the two-phase run of `fields` (what the change
    /// brings: a password, a key).
    line_result change_user(const parsed_command& cmd, const named_user& user, json fields);
    /// The CAUTION banner and y/n, exactly when the command's table entry
    /// is critical; ok at once otherwise.
    line_result confirm(const command_spec& spec, const std::vector<std::size_t>& targets,
                        std::string_view note = {});
    /// Asks `question` and reads the answer. At a terminal the question is
    /// the line editor's prompt, shown once the terminal is ready to take a
    /// Ctrl-C as a key; elsewhere it is printed on `o`.
    std::optional<std::string> ask(std::ostream& o, const std::string& question);
    /// The servers a command addresses (after reconnecting lost ones),
    /// connected or not: those not connected report NOT_CONNECTED.
    std::vector<std::size_t> targets();
    std::size_t live(const std::vector<std::size_t>& servers) const;
    /// Sends `op` to `targets` in parallel; Ctrl-C cuts it off when `interruptible`.
    std::vector<server_report> fan_out(const std::vector<std::size_t>& targets, operation op,
                                       json fields, bool interruptible = true);
    /// Refuses a user change before its banner when every connected target
    /// would refuse it: nobody logged in, a role that may not, or the user
    /// (not) there as last listed. Prints why, per server; false if it may go on.
    bool refused_early(const command_spec& spec, const std::string& name,
                       const std::vector<std::size_t>& where);
    /// Notes, for an officer's logins on `servers`, which services ask a quorum there.
    void note_quorum(const std::vector<std::size_t>& servers);
    /// What a quorum asks of a change: its service, and the least m of the servers.
    struct quorum_need {
        quorum::service svc;
        int m;
    };
    /// When every connected target guards the change with m > 1 and this
    /// login holds no approved token of its service there: what it needs.
    /// Nullopt when it may go on (or some server is in doubt: the nodes
    /// decide). Asks the servers only where the login noted a quorum, so
    /// that without one no server (a stalled one) is waited for before the
    /// banner; the answers, not the note, decide.
    std::optional<quorum_need> quorum_asked(const command_spec& spec, const std::string& name,
                                            const std::vector<std::size_t>& where);
    /// Refuses a change under quorum before its banner, once, with the
    /// next step (getToken ...); false if it may go on.
    bool refused_by_quorum(const command_spec& spec, const std::string& name,
                           const std::vector<std::size_t>& where);
    /// After an early refusal: a script's answer to the question that was
    /// not asked is consumed (the script stays in step); failed, or
    /// protocol_error when that line is not y or n.
    line_result refused(const command_spec& spec);
    /// Says which change holds `user` on servers that answered RET_CONFLICT,
    /// and when it resolves.
    void explain_pending(const std::string& user, const std::vector<server_report>& failed);
    /// After Ctrl-C cut a change off: what was aborted where, what may linger.
    void explain_interrupted(const std::vector<phase_report>& reports);
    /// Keeps the last listing in step with a change committed on `reports`.
    void note_committed(operation op, user_type type, const std::string& name,
                        const std::vector<phase_report>& reports);
    line_result finish(std::string_view command, const std::vector<server_report>& reports);
    void note_activation(const parsed_command& cmd, const std::vector<std::size_t>& where);
    /// Prints a usage error with where it is ("line 3"; `about_answer`: where
    /// the answer or password was read, "-e 2, standard input line 3").
    line_result usage(const std::string& message, bool about_answer = false);
    /// Prints a command's --json document, with the command's arguments
    /// (never a password: parsing keeps it apart).
    void emit(json doc);
    /// Names the servers a command still waits for (standard error).
    void tell_waiting(const slow_servers& slow);
    std::ostream& info();
    /// Where connection lines go: standard output in CMU mode (as CMU), else
    /// standard error.
    std::ostream& chatter();

    client_config config_;
    duration connect_timeout_;
    duration request_timeout_;
    std::unique_ptr<cluster_link> link_;
    line_input& input_;
    std::ostream& out_;
    std::ostream& err_;
    shell_options options_;
    std::optional<std::size_t> server_mode_;
    // In a script, the line of the last command refused before it ran: the
    // lines after it that are not commands are its password and answer.
    std::optional<std::size_t> refused_line_;
    std::vector<std::optional<login_state>> logins_;
    std::vector<bool> ever_connected_;
    std::vector<std::string> args_;         // of the command running
    std::vector<std::string> certificates_; // each server's, as last verified (PEM)
    // Each server's users as last listed (nullopt: not listed since connecting).
    std::vector<std::optional<std::vector<user_summary>>> listed_;
    // Key handles seen (findAllKeys, generateKey), for Tab.
    std::set<std::int64_t> known_handles_;
};

} // namespace hsm
