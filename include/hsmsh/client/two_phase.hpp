// SPDX-License-Identifier: Apache-2.0
// Cluster-wide changes in two phases: prepare everywhere, then commit
// everywhere, or abort (docs/design.md, "Two-phase changes").
#pragma once

#include "hsmsh/outcome.hpp"

#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace hsm {

/// What became of one server in a two-phase change.
/// Where a server's part in a two-phase change ended.
enum class change_phase { prepare, commit };

/// What became of it there.
enum class phase_result {
    prepared,    // (only while the change runs)
    refused,     // the prepare failed
    aborted,     // prepared, then aborted: nothing changed
    committed,   // changed
    left_behind, // not changed while others were (refused then ignored, or commit failed)
};

/// "prepare", "commit"; "prepared", "refused", ... as --json prints them.
std::string_view phase_name(change_phase p) noexcept;
std::string_view phase_result_name(phase_result r) noexcept;

struct phase_report {
    std::size_t index = 0;
    std::string name;
    change_phase phase = change_phase::prepare; // where it ended
    server_outcome outcome;                     // of that phase
    phase_result result = phase_result::refused;
};

/// The operator's choice after a failed prepare.
enum class partial_choice { retry, ignore, abort };

/// Runs a prepared change over `targets`. `call` sends one operation to some
/// servers (in parallel) and returns their outcomes in order; `choose` is
/// asked after a failed prepare (it may be asked again after a retry),
/// except when Ctrl-C cut the prepare off or every server refused alike:
/// then the change is aborted where it was prepared.
class two_phase_change {
public:
    using caller = std::function<std::vector<server_report>(const std::vector<std::size_t>&,
                                                            operation, const json&)>;
    using chooser = std::function<partial_choice(const std::vector<server_report>& failed)>;

    two_phase_change(caller call, chooser choose)
        : call_(std::move(call)), choose_(std::move(choose)) {}

    /// `fields` describe the change (with "change": the operation name);
    /// a fresh transaction id is added. Returns one report per target.
    std::vector<phase_report> run(const std::vector<std::size_t>& targets, json fields);

private:
    using report_map = std::map<std::size_t, phase_report>;
    /// Prepares on `targets`, and again where the chooser says retry;
    /// what to do with the servers that failed (ignore when none did).
    partial_choice prepare(const std::vector<std::size_t>& targets, const json& fields,
                           report_map& reports);
    /// Commits where prepared, or aborts there, as `choice` says.
    void decide(partial_choice choice, const std::string& txid, report_map& reports);

    caller call_;
    chooser choose_;
};

/// Whether every server refused, for the same reason, one that retrying or
/// committing elsewhere cannot change (exists, not found, permission, ...).
bool refused_alike(const std::vector<server_report>& prepared);

/// Whether Ctrl-C cut any of these requests off (server or phase reports).
template <typename Report> bool interrupted(const std::vector<Report>& reports) {
    for (const auto& r : reports)
        if (r.outcome.what == server_outcome::kind::cancelled) return true;
    return false;
}

/// Tests only: a hook asked at "after-prepare" and "after-first-commit"
/// whether the shell should die there (_exit(70)), so that the nodes' own
/// resolution can be tested. None is set in a shipped program: the test
/// build of the shell (tests/integration/failpoints.cpp) sets one.
using failpoint_hook = bool (*)(std::string_view where) noexcept;
void set_failpoint_hook(failpoint_hook hook) noexcept;

/// A fresh 128-bit transaction id in hex.
std::string new_txid();

} // namespace hsm
