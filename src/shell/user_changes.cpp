// SPDX-License-Identifier: Apache-2.0
// User changes: password, early refusal, the CAUTION banner and y/n, and the
// two-phase run with what the operator is told when it does not go through.
#include "shell.hpp"

#include "hsmsh/cluster_link.hpp"
#include "hsmsh/hex.hpp"
#include "hsmsh/kdf.hpp"
#include "hsmsh/keys.hpp"
#include "hsmsh/log.hpp"
#include "hsmsh/policy.hpp"
#include "terminal_input.hpp"

#include <algorithm>
#include <cctype>

#include <fmt/format.h>
#include <fmt/ostream.h>
#include <fmt/ranges.h>

namespace hsm {
namespace {

// CMU's line before a user change's results, from the command's table entry.
std::string lead_line(const command_spec& spec, const named_user& u, std::size_t nodes) {
    return fmt::format(fmt::runtime(spec.lead),
                       fmt::format("{}({})", u.name, user_type_name(u.type)), nodes);
}

} // namespace

std::optional<secret> shell::obtain_password(const parsed_command& cmd, line_result& failure) {
    if (cmd.inline_password) return secret(std::string(*cmd.inline_password));
    if (cmd.spec->op == operation::login && options_.login_password)
        return options_.login_password->clone();
    auto first = input_.read_password("Enter password:");
    if (!first) {
        if (input_.interactive()) {
            failure = line_result::cancelled;
            fmt::print(err_, "Cancelled.\n");
        } else {
            usage(fmt::format("{} expects a password line", cmd.spec->name), true);
            failure = line_result::protocol_error;
        }
        return std::nullopt;
    }
    if (cmd.spec->new_password && input_.interactive()) {
        auto again = input_.read_password("Re-enter password:");
        if (!again || !again->equals(*first)) {
            fmt::print(err_, "The passwords do not match; nothing was changed.\n");
            failure = line_result::failed;
            return std::nullopt;
        }
    }
    return first;
}

line_result shell::declined(const command_spec& spec) {
    // A script reading --json learns that nothing ran, and why.
    if (options_.json) emit(json{{"command", spec.name}, {"declined", true}});
    return line_result::cancelled;
}

std::optional<std::string> shell::ask(std::ostream& o, const std::string& question) {
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

line_result shell::confirm(const command_spec& spec, const std::vector<std::size_t>& where,
                           std::string_view note) {
    if (!asks_confirmation(spec, options_.confirmations)) return line_result::ok;
    auto command = spec.name;
    auto& o = info();
    fmt::print(o, "*************************CAUTION********************************\n");
    if (options_.cmu_mode)
        // CMU's own words (the two-phase change makes their warning moot).
        fmt::print(o, "This is a CRITICAL operation, should be done on all nodes in the\n"
                      "cluster. AWS does NOT synchronize these changes automatically with the\n"
                      "nodes on which this operation is not executed or failed, please\n"
                      "ensure this operation is executed on all nodes in the cluster.\n");
    else
        fmt::print(o, "This is a CRITICAL operation. {} will change the {} of:\n", command,
                   spec.changes);
    std::vector<std::string> absent;
    for (auto i : where) {
        auto label = server_label(i, link_->server(i).name);
        if (!link_->connected(i))
            absent.push_back(label);
        else if (!options_.cmu_mode)
            fmt::print(o, "    {}\n", label);
    }
    for (const auto& label : absent)
        fmt::print(o,
                   "WARNING: {} is not connected: it cannot prepare the change, so the\n"
                   "change is aborted everywhere unless you choose to leave it behind.\n",
                   label);
    // Fewer servers than configured: server mode, or a repair of the
    // servers behind (syncUser --all); only the first is "server mode".
    if (where.size() < link_->size())
        fmt::print(o, "Only {} of the {} configured servers are addressed{}.\n", where.size(),
                   link_->size(), server_mode_ ? " (server mode)" : "");
    fmt::print(o, "{}", note);
    fmt::print(o, "****************************************************************\n\n");
    if (options_.assume_yes) return line_result::ok;
    for (;;) {
        auto answer = ask(o, "Do you want to continue(y/n)?");
        if (!input_.interactive()) fmt::print(o, "\n");
        if (auto yes = answer ? parse_yes_no(*answer) : std::nullopt)
            return *yes ? line_result::ok : declined(spec);
        // CMU reads on after an invalid answer, from a script too (a blank
        // line before the 'y', say); at the end of the script it stops.
        bool again = answer && (input_.interactive() || options_.cmu_mode);
        if (!again) {
            if (!input_.interactive()) {
                usage(fmt::format("{} expects a line 'y' or 'n' to confirm", command), true);
                return line_result::protocol_error;
            }
            return declined(spec);
        }
        fmt::print(o, "Invalid option, please type 'y' or 'n'\n\n");
    }
}

line_result shell::run_user_change(parsed_command& cmd) {
    auto user = user_arguments(cmd);
    if (cmd.two_factor_file && !is_officer(user.type))
        throw usage_error("-2fa: only crypto officers (CO) log in with a second factor");
    line_result failure = line_result::failed;
    std::optional<secret> password;
    if (cmd.spec->password_arg >= 0) {
        password = obtain_password(cmd, failure);
        if (!password) return failure;
        if (!valid_password(password->view()))
            throw usage_error(std::string(status_description(status::password_policy)));
    }
    json fields = json::object();
    // The node ends the user's sessions with the change, instead of
    // refusing it while the user is logged in (an officer revoking a user).
    if (cmd.revoke) fields["revoke"] = true;
    if (password) {
        fields["password"] = std::string(password->view());
        // One salt for every node: the same credentials everywhere (see record digests).
        fields["salt"] = random_hex(salt_size);
    }
    return change_user(cmd, user, std::move(fields));
}

// setKeyQuota <user> <keys | default>: how many keys a crypto user may own
// on each node, set on every node or none. User management: under quorum it
// needs an approved service-3 token, as createUser does.
line_result shell::run_set_key_quota(parsed_command& cmd) {
    const auto& name = cmd.args.at(0);
    if (!valid_user_name(name))
        throw usage_error(std::string(status_description(status::invalid_user_name)));
    const auto& text = cmd.args.at(1);
    json quota; // null: the node's default
    if (text != "default") {
        auto n = parse_number(text);
        if (!n || *n > std::int64_t{max_keys_per_node})
            throw usage_error(fmt::format("keys: a number from 0 to {} (a node holds no more), "
                                          "or 'default' (the node's --key-quota), not '{}'",
                                          max_keys_per_node, text));
        quota = *n;
    }
    return change_user(cmd, {user_type::cu, canonical_user_name(name)},
                       json{{"key_quota", std::move(quota)}});
}

line_result shell::change_user(const parsed_command& cmd, const named_user& user, json fields) {
    auto where = targets();
    if (live(where) == 0) {
        fmt::print(err_, "{}: no server is connected; nothing was changed\n", cmd.spec->name);
        return line_result::failed;
    }
    if (refused_early(*cmd.spec, user.name, where) ||
        refused_by_quorum(*cmd.spec, user.name, where))
        return refused(*cmd.spec);
    // CloudHSM's rule: a new password without -2fa ends a user's second
    // factor, and the key it answered with (which also approved tokens).
    std::string note;
    if (*cmd.spec->op == operation::change_password && !cmd.two_factor_file &&
        is_officer(user.type) && has_second_factor(user.name, where))
        note = fmt::format("{} logs in with two-factor authentication: without -2fa this change\n"
                           "turns it off and removes {}'s quorum key.\n",
                           user.name, user.name);
    auto answer = confirm(*cmd.spec, where, note);
    if (answer != line_result::ok) {
        if (answer == line_result::cancelled) fmt::print(info(), "Nothing was changed.\n");
        return answer;
    }
    if (cmd.two_factor_file) {
        line_result failure = line_result::failed;
        auto proof = enrollment_proof(cmd, where, failure);
        if (!proof) return failure;
        fields["two_fa"] = std::move(*proof);
    }
    if (!options_.json && !cmd.spec->lead.empty())
        fmt::print(out_, "{}\n", lead_line(*cmd.spec, user, live(where)));
    fields["type"] = user_type_name(user.type);
    fields["name"] = user.name;
    fields["change"] = operation_name(*cmd.spec->op);
    std::vector<phase_report> reports;
    auto result = run_prepared(cmd.spec->name, where, std::move(fields), &reports);
    note_committed(*cmd.spec->op, user.type, user.name, reports);
    if (result == line_result::ok) note_activation(cmd, where);
    return result;
}

line_result shell::refused(const command_spec& spec) {
    // A script's answer to the question that was not asked is still its
    // next line: consumed, so that the script stays in step.
    if (!input_.interactive() && !options_.assume_yes &&
        asks_confirmation(spec, options_.confirmations)) {
        auto answer = input_.read_answer("");
        if (!answer || !parse_yes_no(*answer)) {
            usage(fmt::format("{} expects a line 'y' or 'n' to confirm", spec.name), true);
            return line_result::protocol_error;
        }
    }
    return line_result::failed;
}

bool shell::refused_early(const command_spec& spec, const std::string& name,
                          const std::vector<std::size_t>& where) {
    struct refusal {
        std::size_t server;
        status code;
        std::string why;
    };
    auto op = *spec.op;
    std::vector<refusal> refusals;
    for (auto i : where) {
        if (!link_->connected(i)) continue; // the banner warns of it
        const auto& login = logins_[i];
        if (!login) {
            refusals.push_back({i, status::not_logged_in, "nobody is logged in there (loginHSM)"});
            continue;
        }
        if (authorize(login->type, op, login->name == name) != status::ok) {
            refusals.push_back(
                {i, status::permission_denied,
                 fmt::format("{} may not {} {}", user_type_name(login->type), spec.name, name)});
            continue;
        }
        if (!listed_[i]) continue;
        bool there =
            std::ranges::any_of(*listed_[i], [&](const user_summary& u) { return u.name == name; });
        if (op == operation::create_user && there)
            refusals.push_back(
                {i, status::user_exists, fmt::format("{} exists there (as last listed)", name)});
        else if (op != operation::create_user && !there)
            refusals.push_back(
                {i, status::user_not_found, fmt::format("no {} there (as last listed)", name)});
    }
    // Only a refusal every connected server would give; where servers
    // differ, the two-phase run shows it and offers the choices.
    if (refusals.empty() || refusals.size() != live(where)) return false;
    if (options_.json) {
        json servers = json::array();
        for (const auto& r : refusals)
            servers.push_back({{"index", r.server},
                               {"name", link_->server(r.server).name},
                               {"status", "error"},
                               {"code", status_name(r.code)},
                               {"message", r.why}});
        emit(json{{"command", spec.name},
                  {"ok", false},
                  {"refused_before_sending", true},
                  {"servers", std::move(servers)}});
        return true;
    }
    for (const auto& r : refusals)
        fmt::print(out_, "{} refused for {}: {}: {}\n", spec.name,
                   server_label(r.server, link_->server(r.server).name), status_name(r.code),
                   escape_terminal(r.why));
    fmt::print(out_, "Nothing was sent or changed; listUsers refreshes what the shell saw.\n");
    return true;
}

line_result shell::run_confirmed_change(parsed_command& cmd, json fields, std::string_view lead) {
    auto where = targets();
    if (live(where) == 0) {
        fmt::print(err_, "{}: no server is connected; nothing was changed\n", cmd.spec->name);
        return line_result::failed;
    }
    if (refused_by_quorum(*cmd.spec, {}, where)) return refused(*cmd.spec);
    auto answer = confirm(*cmd.spec, where);
    if (answer != line_result::ok) {
        if (answer == line_result::cancelled) fmt::print(info(), "Nothing was changed.\n");
        return answer;
    }
    if (!lead.empty() && !options_.json)
        fmt::print(out_, "{}\n", fmt::format(fmt::runtime(lead), live(where)));
    return run_prepared(cmd.spec->name, where, std::move(fields));
}

line_result shell::run_prepared(std::string_view command, const std::vector<std::size_t>& where,
                                json fields, std::vector<phase_report>* out, json extra) {
    // What a pending change holds, as listPrepared names it: a user, or a key.
    auto user = fields.value("name", std::string());
    if (auto handle = integer_field(fields, "handle")) user = fmt::format("key {}", *handle);
    if (auto subject = string_field(fields, "subject")) user = *subject;
    // Ctrl-C may cut the prepare off; once the change is decided, its commit
    // or abort runs to its end (each within the request timeout).
    two_phase_change change(
        [this](const std::vector<std::size_t>& servers, operation op, const json& f) {
            return fan_out(servers, op, f, op == operation::prepare);
        },
        [this, command, &user](const std::vector<server_report>& failed) {
            return choose_after_failure(command, user, failed);
        });
    auto reports = change.run(where, std::move(fields));
    bool cut = interrupted(reports);
    // The terminal echoed ^C where the cursor was.
    if (cut && input_.interactive()) fmt::print(out_, "\n");
    if (options_.json) {
        auto doc = phase_json(command, reports);
        if (extra.is_object()) doc.update(extra);
        emit(std::move(doc));
    } else
        print_phase_lines(out_, command, reports, options_.color);
    explain_interrupted(reports);
    if (!input_.interactive()) {
        std::vector<server_report> conflicts;
        for (const auto& r : reports)
            if (r.outcome.what == server_outcome::kind::replied &&
                r.outcome.code == status::conflict)
                conflicts.push_back({r.index, r.name, r.outcome});
        explain_pending(user, conflicts);
    }
    bool all = std::ranges::all_of(
        reports, [](const auto& r) { return r.result == phase_result::committed; });
    if (out) *out = std::move(reports);
    return all ? line_result::ok : line_result::failed;
}

partial_choice shell::choose_after_failure(std::string_view command, const std::string& user,
                                           const std::vector<server_report>& failed) {
    if (!input_.interactive())
        return options_.allow_partial ? partial_choice::ignore : partial_choice::abort;
    auto& o = info();
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

void shell::explain_pending(const std::string& user, const std::vector<server_report>& failed) {
    if (failed.empty()) return;
    std::vector<std::size_t> where;
    for (const auto& f : failed)
        where.push_back(f.index);
    auto lists = fan_out(where, operation::list_prepared, json::object(), false);
    auto& o = info();
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

void shell::explain_interrupted(const std::vector<phase_report>& reports) {
    std::vector<std::string> aborted, cut;
    for (const auto& r : reports) {
        auto label = server_label(r.index, r.name);
        if (r.result == phase_result::aborted) aborted.push_back(label);
        if (r.outcome.what == server_outcome::kind::cancelled) cut.push_back(label);
    }
    if (cut.empty()) return;
    auto& o = info();
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

void shell::note_committed(operation op, user_type type, const std::string& name,
                           const std::vector<phase_report>& reports) {
    for (const auto& r : reports) {
        auto& users = listed_[r.index];
        if (r.result != phase_result::committed || !users) continue;
        auto same = [&](const user_summary& u) { return u.name == name; };
        if (op == operation::delete_user) std::erase_if(*users, same);
        if (op == operation::create_user && std::ranges::none_of(*users, same)) {
            user_summary added;
            added.type = user_type_name(type);
            added.name = name;
            users->push_back(std::move(added));
        }
    }
}

} // namespace hsm
