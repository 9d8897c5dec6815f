// SPDX-License-Identifier: Apache-2.0
// Cluster-wide changes in two phases.
#include "hsmsh/client/two_phase.hpp"

#include "hsmsh/hex.hpp"
#include "hsmsh/secret.hpp"

#include <algorithm>
#include <map>
#include <stdexcept>
#include <string_view>

#include <fmt/format.h>
#include <unistd.h>

namespace hsm {
namespace {

// Set by test builds only: a shipped program never reads HSMSH_FAILPOINT.
failpoint_hook test_failpoint = nullptr;

bool failpoint(std::string_view name) noexcept {
    return test_failpoint && test_failpoint(name);
}

// A refusal that says the same of the change wherever it is asked: retrying
// it, or committing it elsewhere, cannot help.
bool deterministic(status s) noexcept {
    switch (s) {
    case status::user_exists:
    case status::user_not_found:
    case status::permission_denied:
    case status::not_logged_in:
    case status::user_owns_keys:
    case status::last_co:
    case status::password_policy:
    case status::invalid_user_name:
    case status::invalid_user_type:
    case status::quota_exceeded:
    case status::cluster_not_active:
    case status::version_newer:
        return true;
    default:
        return false;
    }
}

} // namespace

bool refused_alike(const std::vector<server_report>& prepared) {
    if (prepared.empty()) return false;
    const auto& first = prepared.front().outcome;
    return std::ranges::all_of(prepared, [&](const server_report& r) {
        return r.outcome.what == server_outcome::kind::replied && r.outcome.code == first.code &&
               deterministic(r.outcome.code);
    });
}

std::string_view phase_name(change_phase p) noexcept {
    return p == change_phase::commit ? "commit" : "prepare";
}

std::string_view phase_result_name(phase_result r) noexcept {
    switch (r) {
    case phase_result::prepared:
        return "prepared";
    case phase_result::refused:
        return "refused";
    case phase_result::aborted:
        return "aborted";
    case phase_result::committed:
        return "committed";
    case phase_result::left_behind:
        return "left_behind";
    }
    return "refused";
}

void set_failpoint_hook(failpoint_hook hook) noexcept {
    test_failpoint = hook;
}

std::string new_txid() {
    return random_hex(16);
}

partial_choice two_phase_change::prepare(const std::vector<std::size_t>& targets,
                                         const json& fields, report_map& reports) {
    std::vector<std::size_t> pending = targets;
    for (;;) {
        auto prepared = call_(pending, operation::prepare, fields);
        std::vector<server_report> failed;
        for (auto& r : prepared) {
            reports[r.index] = {r.index, r.name, change_phase::prepare, r.outcome,
                                r.outcome.ok() ? phase_result::prepared : phase_result::refused};
            if (!r.outcome.ok()) failed.push_back(r);
        }
        if (failed.empty()) return partial_choice::ignore; // nothing to ignore: commit everywhere
        // Ctrl-C means stop; a refusal every server gives alike leaves
        // nothing to retry or to commit elsewhere: no question either way.
        auto choice = interrupted(prepared) || refused_alike(prepared) ? partial_choice::abort
                                                                       : choose_(failed);
        if (choice != partial_choice::retry) return choice;
        pending.clear();
        for (const auto& f : failed)
            pending.push_back(f.index);
    }
}

void two_phase_change::decide(partial_choice choice, const std::string& txid, report_map& reports) {
    std::vector<std::size_t> holders;
    for (const auto& [index, r] : reports)
        if (r.result == phase_result::prepared) holders.push_back(index);
    if (failpoint("after-prepare")) ::_exit(70);
    // Each node decides for itself whether a new key is on enough nodes
    // (it asks its peers), so the commit carries nothing else.
    json tx{{"txid", txid}};
    if (choice == partial_choice::abort) {
        call_(holders, operation::abort, tx);
        for (auto i : holders)
            reports[i].result = phase_result::aborted;
        return;
    }
    if (failpoint("after-first-commit") && !holders.empty()) {
        call_({holders.front()}, operation::commit, tx);
        ::_exit(70);
    }
    for (auto& r : call_(holders, operation::commit, tx)) {
        auto& report = reports[r.index];
        report.phase = change_phase::commit;
        report.outcome = r.outcome;
        report.result = r.outcome.ok() ? phase_result::committed : phase_result::left_behind;
    }
    for (auto& [index, r] : reports)
        if (r.result == phase_result::refused) r.result = phase_result::left_behind;
}

std::vector<phase_report> two_phase_change::run(const std::vector<std::size_t>& targets,
                                                json fields) {
    auto txid = new_txid();
    fields["txid"] = txid;
    report_map reports;
    auto choice = prepare(targets, fields, reports);
    wipe_password(fields);
    decide(choice, txid, reports);
    std::vector<phase_report> out;
    for (auto i : targets)
        out.push_back(reports[i]);
    return out;
}

} // namespace hsm
