// SPDX-License-Identifier: Apache-2.0
// The change runner: passwords, early refusal, the CAUTION banner and y/n,
// and the two-phase run with what the operator is told when it does not go
// through. The refusal under quorum is in quorum_refusal.cpp.
#include "change_runner.hpp"

#include "hsmsh/client/cluster_link.hpp"
#include "hsmsh/log.hpp"
#include "hsmsh/protocol/changes.hpp"
#include "hsmsh/protocol/policy.hpp"
#include "hsmsh/protocol/requests.hpp"
#include "render.hpp"
#include "terminal_input.hpp"

#include <algorithm>
#include <cctype>
#include <type_traits>
#include <variant>

#include <fmt/format.h>
#include <fmt/ostream.h>
#include <fmt/ranges.h>

namespace hsm {
namespace {

// What a pending change holds, as listPrepared names it: a user, a key
// ("key 7"), a service's m ("mvalue 3"). A key insertion names none: its
// new handles are nobody's pending change.
std::string change_subject(const json& fields) {
    auto change = change_request_from(fields);
    if (!change) return decoded<user_named>(fields).name.value_or("");
    return std::visit(
        [](const auto& c) -> std::string {
            using kind = std::decay_t<decltype(c)>;
            if constexpr (std::is_same_v<kind, m_value_change>)
                return fmt::format("mvalue {}", static_cast<int>(c.svc));
            else if constexpr (std::is_same_v<kind, user_sync>)
                return c.record.name;
            else if constexpr (std::is_same_v<kind, key_copy>)
                return fmt::format("key {}", c.keys.front().handle);
            else if constexpr (requires { c.handle; })
                return fmt::format("key {}", c.handle);
            else
                return "";
        },
        *change);
}

} // namespace

change_runner::change_runner(cluster_io& cluster, session_state& session, shell_output& output,
                             line_input& input, const shell_options& options)
    : cluster_(cluster), session_(session), output_(output), input_(input), options_(options) {}

std::optional<secret> change_runner::obtain_password(const parsed_command& cmd,
                                                     line_result& failure) {
    if (cmd.inline_password) return secret(std::string(*cmd.inline_password));
    if (cmd.spec->op == operation::login && options_.login_password)
        return options_.login_password->clone();
    auto first = input_.read_password("Enter password:");
    if (!first) {
        if (input_.interactive()) {
            failure = line_result::cancelled;
            fmt::print(output_.err(), "Cancelled.\n");
        } else {
            output_.usage(fmt::format("{} expects a password line", cmd.spec->name), true);
            failure = line_result::protocol_error;
        }
        return std::nullopt;
    }
    if (cmd.spec->new_password && input_.interactive()) {
        auto again = input_.read_password("Re-enter password:");
        if (!again || !again->equals(*first)) {
            fmt::print(output_.err(), "The passwords do not match; nothing was changed.\n");
            failure = line_result::failed;
            return std::nullopt;
        }
    }
    return first;
}

std::optional<std::string> change_runner::ask(std::ostream& o, const std::string& question) {
    if (input_.interactive()) {
        // Printed before the editor takes the terminal, a question could be
        // answered by a Ctrl-C the terminal turns into a signal, which no
        // read would then see.
        o.flush();
        return input_.read_answer(question);
    }
    o << question;
    o.flush();
    return input_.read_answer("");
}

line_result change_runner::confirm(const command_spec& spec, const std::vector<std::size_t>& where,
                                   std::string_view note) {
    if (!asks_confirmation(spec, options_.confirmations)) return line_result::ok;
    print_banner(spec, where, note);
    if (options_.assume_yes) return line_result::ok;
    return ask_yes_no(spec);
}

void change_runner::print_banner(const command_spec& spec, const std::vector<std::size_t>& where,
                                 std::string_view note) {
    auto& o = output_.info();
    fmt::print(o, "*************************CAUTION********************************\n");
    if (options_.cmu_mode)
        // CMU's own words (the two-phase change makes their warning moot).
        fmt::print(o, "This is a CRITICAL operation, should be done on all nodes in the\n"
                      "cluster. AWS does NOT synchronize these changes automatically with the\n"
                      "nodes on which this operation is not executed or failed, please\n"
                      "ensure this operation is executed on all nodes in the cluster.\n");
    else
        fmt::print(o, "This is a CRITICAL operation. {} will change the {} of:\n", spec.name,
                   spec.changes);
    std::vector<std::string> absent;
    for (auto i : where) {
        if (!cluster_.link().connected(i))
            absent.push_back(cluster_.label(i));
        else if (!options_.cmu_mode)
            fmt::print(o, "    {}\n", cluster_.label(i));
    }
    for (const auto& label : absent)
        fmt::print(o,
                   "WARNING: {} is not connected: it cannot prepare the change, so the\n"
                   "change is aborted everywhere unless you choose to leave it behind.\n",
                   label);
    // Fewer servers than configured: server mode, or a repair of the
    // servers behind (syncUser --all); only the first is "server mode".
    if (where.size() < cluster_.link().size())
        fmt::print(o, "Only {} of the {} configured servers are addressed{}.\n", where.size(),
                   cluster_.link().size(), session_.server_mode ? " (server mode)" : "");
    fmt::print(o, "{}", note);
    fmt::print(o, "****************************************************************\n\n");
}

line_result change_runner::ask_yes_no(const command_spec& spec) {
    auto& o = output_.info();
    for (;;) {
        auto answer = ask(o, "Do you want to continue(y/n)?");
        if (!input_.interactive()) fmt::print(o, "\n");
        if (auto yes = answer ? parse_yes_no(*answer) : std::nullopt)
            return *yes ? line_result::ok : output_.declined(spec);
        // CMU reads on after an invalid answer, from a script too (a blank
        // line before the 'y', say); at the end of the script it stops.
        bool again = answer && (input_.interactive() || options_.cmu_mode);
        if (!again) {
            if (!input_.interactive()) {
                output_.usage(fmt::format("{} expects a line 'y' or 'n' to confirm", spec.name),
                              true);
                return line_result::protocol_error;
            }
            return output_.declined(spec);
        }
        fmt::print(o, "Invalid option, please type 'y' or 'n'\n\n");
    }
}

line_result change_runner::confirm_change(const command_spec& spec,
                                          const std::vector<std::size_t>& where,
                                          std::string_view note) {
    auto answer = confirm(spec, where, note);
    if (answer == line_result::cancelled) fmt::print(output_.info(), "Nothing was changed.\n");
    return answer;
}

bool change_runner::none_connected(const command_spec& spec,
                                   const std::vector<std::size_t>& where) {
    if (cluster_.live(where) > 0) return false;
    fmt::print(output_.err(), "{}: no server is connected; nothing was changed\n", spec.name);
    return true;
}

line_result change_runner::refused(const command_spec& spec) {
    // A script's answer to the question that was not asked is still its
    // next line: consumed, so that the script stays in step.
    if (!input_.interactive() && !options_.assume_yes &&
        asks_confirmation(spec, options_.confirmations)) {
        auto answer = input_.read_answer("");
        if (!answer || !parse_yes_no(*answer)) {
            output_.usage(fmt::format("{} expects a line 'y' or 'n' to confirm", spec.name), true);
            return line_result::protocol_error;
        }
    }
    return line_result::failed;
}

bool change_runner::refused_early(const command_spec& spec, const std::string& name,
                                  const std::vector<std::size_t>& where) {
    std::vector<refusal> refusals;
    for (auto i : where) {
        if (!cluster_.link().connected(i)) continue; // the banner warns of it
        if (auto r = refusal_on(i, spec, name)) refusals.push_back(std::move(*r));
    }
    // Only a refusal every connected server would give; where servers
    // differ, the two-phase run shows it and offers the choices.
    if (refusals.empty() || refusals.size() != cluster_.live(where)) return false;
    print_refusals(spec, refusals);
    return true;
}

std::optional<change_runner::refusal>
change_runner::refusal_on(std::size_t i, const command_spec& spec, const std::string& name) {
    auto op = *spec.op;
    const auto& login = session_.logins[i];
    if (!login) return refusal{i, status::not_logged_in, "nobody is logged in there (loginHSM)"};
    if (authorize(login->type, op, login->name == name) != status::ok)
        return refusal{
            i, status::permission_denied,
            fmt::format("{} may not {} {}", user_type_name(login->type), spec.name, name)};
    if (!session_.listed[i]) return std::nullopt;
    bool there = std::ranges::any_of(*session_.listed[i],
                                     [&](const user_summary& u) { return u.name == name; });
    if (op == operation::create_user && there)
        return refusal{i, status::user_exists,
                       fmt::format("{} exists there (as last listed)", name)};
    if (op != operation::create_user && !there)
        return refusal{i, status::user_not_found,
                       fmt::format("no {} there (as last listed)", name)};
    return std::nullopt;
}

void change_runner::print_refusals(const command_spec& spec, const std::vector<refusal>& refusals) {
    if (options_.json) {
        json servers = json::array();
        for (const auto& r : refusals)
            servers.push_back({{"index", r.server},
                               {"name", cluster_.link().server(r.server).name},
                               {"status", "error"},
                               {"code", status_name(r.code)},
                               {"message", r.why}});
        output_.emit(json{{"command", spec.name},
                          {"ok", false},
                          {"refused_before_sending", true},
                          {"servers", std::move(servers)}});
        return;
    }
    for (const auto& r : refusals)
        fmt::print(output_.out(), "{} refused for {}: {}: {}\n", spec.name,
                   cluster_.label(r.server), status_name(r.code), escape_terminal(r.why));
    fmt::print(output_.out(),
               "Nothing was sent or changed; listUsers refreshes what the shell saw.\n");
}

line_result change_runner::run_confirmed_change(const parsed_command& cmd, json fields,
                                                std::string_view lead) {
    auto where = cluster_.targets();
    if (none_connected(*cmd.spec, where)) return line_result::failed;
    if (refused_by_quorum(*cmd.spec, {}, where)) return refused(*cmd.spec);
    auto answer = confirm_change(*cmd.spec, where);
    if (answer != line_result::ok) return answer;
    if (!lead.empty() && !options_.json)
        fmt::print(output_.out(), "{}\n", fmt::format(fmt::runtime(lead), cluster_.live(where)));
    return run_prepared(cmd.spec->name, where, std::move(fields));
}

line_result change_runner::run_prepared(std::string_view command,
                                        const std::vector<std::size_t>& where, json fields,
                                        std::vector<phase_report>* out, json extra) {
    auto user = change_subject(fields);
    // Ctrl-C may cut the prepare off; once the change is decided, its commit
    // or abort runs to its end (each within the request timeout).
    two_phase_change change(
        [this](const std::vector<std::size_t>& servers, operation op, const json& f) {
            return cluster_.fan_out(servers, op, f, op == operation::prepare);
        },
        [this, command, &user](const std::vector<server_report>& failed) {
            return choose_after_failure(command, user, failed);
        });
    auto reports = change.run(where, std::move(fields));
    report_prepared(command, user, reports, std::move(extra));
    bool all = std::ranges::all_of(
        reports, [](const auto& r) { return r.result == phase_result::committed; });
    if (out) *out = std::move(reports);
    return all ? line_result::ok : line_result::failed;
}

void change_runner::report_prepared(std::string_view command, const std::string& user,
                                    const std::vector<phase_report>& reports, json extra) {
    bool cut = interrupted(reports);
    // The terminal echoed ^C where the cursor was.
    if (cut && input_.interactive()) fmt::print(output_.out(), "\n");
    if (options_.json) {
        auto doc = phase_json(command, reports);
        if (extra.is_object()) doc.update(extra);
        output_.emit(std::move(doc));
    } else
        print_phase_lines(output_.out(), command, reports, options_.color);
    explain_interrupted(reports);
    if (input_.interactive()) return;
    std::vector<server_report> conflicts;
    for (const auto& r : reports)
        if (r.outcome.what == server_outcome::kind::replied && r.outcome.code == status::conflict)
            conflicts.push_back({r.index, r.name, r.outcome});
    explain_pending(user, conflicts);
}

partial_choice change_runner::choose_after_failure(std::string_view command,
                                                   const std::string& user,
                                                   const std::vector<server_report>& failed) {
    if (!input_.interactive())
        return options_.allow_partial ? partial_choice::ignore : partial_choice::abort;
    auto& o = output_.info();
    std::vector<server_report> conflicts;
    for (const auto& f : failed) {
        auto label = server_label(f.index, f.name);
        fmt::print(o, "{} failed: {}\n", command, outcome_code(f.outcome));
        // CMU's lines, inconsistent wording included (scripts match them).
        if (options_.cmu_mode && command == "createUser")
            fmt::print(o, "creating user on {} failed\n", label);
        else if (options_.cmu_mode)
            fmt::print(o, "{} failed on {}\n", command, label);
        else
            fmt::print(o, "preparing on {} failed\n", label);
        if (f.outcome.what == server_outcome::kind::replied && f.outcome.code == status::conflict)
            conflicts.push_back(f);
    }
    explain_pending(user, conflicts);
    // CMU offers deleteUser a rollBack instead of an Abort: both leave every
    // server as it was, which is what Abort does here.
    bool rollback = options_.cmu_mode && command == "deleteUser";
    for (;;) {
        o << '\n';
        // No answer (Ctrl-C, end of input) is Abort: nothing changes anywhere.
        auto answer =
            ask(o, rollback ? "Retry/rollBack/Ignore?(R/B/I):" : "Retry/Ignore/Abort?(R/I/A):");
        auto is = [&](char c) {
            return answer && answer->size() == 1 &&
                   std::tolower(static_cast<unsigned char>(answer->front())) == c;
        };
        if (!answer || is(rollback ? 'b' : 'a')) return partial_choice::abort;
        if (is('r')) return partial_choice::retry;
        if (is('i')) return partial_choice::ignore;
        o << (rollback ? "Invalid option, please type 'R', 'B' or 'I'\n"
                       : "Invalid option, please type 'R', 'I' or 'A'\n");
    }
}

void change_runner::explain_pending(const std::string& user,
                                    const std::vector<server_report>& failed) {
    if (failed.empty()) return;
    std::vector<std::size_t> where;
    for (const auto& f : failed)
        where.push_back(f.index);
    auto lists = cluster_.fan_out(where, operation::list_prepared, json::object(), false);
    auto& o = output_.info();
    for (const auto& l : lists) {
        auto label = server_label(l.index, l.name);
        bool told = false;
        if (l.outcome.ok())
            for (const auto& e : prepared_entries_from(l.outcome.fields)) {
                if (e.user != user) continue;
                auto left = std::max<std::int64_t>(0, (e.deadline_ms - unix_ms() + 999) / 1000);
                auto txid = escape_terminal(e.txid);
                fmt::print(o,
                           "{}: another change of {} is pending there ({} by {}, transaction "
                           "{}): the server resolves it by itself in {} s, or abortPrepared {} "
                           "ends it now.\n",
                           label, user, escape_terminal(e.change), escape_terminal(e.actor), txid,
                           left, txid);
                told = true;
            }
        if (!told)
            fmt::print(o,
                       "{}: another change of {} is pending there; the server resolves it by "
                       "itself when its prepare deadline passes (60 s unless the node sets "
                       "--prepare-timeout). listPrepared, as an officer, shows it.\n",
                       label, user);
    }
}

void change_runner::explain_interrupted(const std::vector<phase_report>& reports) {
    std::vector<std::string> aborted, cut;
    for (const auto& r : reports) {
        auto label = server_label(r.index, r.name);
        if (r.result == phase_result::aborted) aborted.push_back(label);
        if (r.outcome.what == server_outcome::kind::cancelled) cut.push_back(label);
    }
    if (cut.empty()) return;
    auto& o = output_.info();
    fmt::print(o, "Interrupted: nothing was changed.");
    if (!aborted.empty())
        fmt::print(o, " The change was aborted on {}, which stay connected and logged in.",
                   fmt::join(aborted, ", "));
    fmt::print(o,
               " {} had not answered: the connection was closed, and the login there with it; "
               "if the change was prepared there, the server aborts it by itself when its "
               "prepare deadline passes (60 s unless the node sets --prepare-timeout).\n",
               fmt::join(cut, ", "));
}

} // namespace hsm
