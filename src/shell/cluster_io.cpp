// SPDX-License-Identifier: Apache-2.0
// The shell's connections to the open cluster: connect, reconnect, fan-out.
#include "cluster_io.hpp"

#include "hsmsh/client/cluster_link.hpp"
#include "render.hpp"
#include "terminal_input.hpp"

#include <algorithm>

#include <fmt/format.h>
#include <fmt/ostream.h>
#include <fmt/ranges.h>

namespace hsm {

cluster_io::cluster_io(const client_config& config, timeouts limits, session_state& session,
                       shell_output& output, line_input& input, const shell_options& options)
    : config_(config), limits_(limits), session_(session), output_(output), input_(input),
      options_(options) {}

cluster_io::~cluster_io() = default;

void cluster_io::open(const std::string& id) {
    auto next =
        std::make_unique<cluster_link>(config_.select(id), limits_.connect, limits_.request);
    if (link_) link_->close_all();
    link_ = std::move(next);
    if (options_.wait_notices)
        link_->on_slow(slow_notice_after, [this](const auto& slow) { tell_waiting(slow); });
    session_.reset(link_->size());
}

void cluster_io::disconnect() {
    link_->close_all();
}

const std::string& cluster_io::cluster_id() const noexcept {
    return link_->cluster_id();
}

std::string cluster_io::label(std::size_t i) const {
    return server_label(i, link_->server(i).name);
}

void cluster_io::tell_waiting(const slow_servers& slow) {
    std::vector<std::string> labels;
    for (auto i : slow.waiting)
        labels.push_back(label(i));
    fmt::print(output_.err(), "hsmsh: waiting for {} ({} gives up after {:g} s: {}{})\n",
               fmt::join(labels, ", "), slow.connecting ? "connecting" : "the request",
               std::chrono::duration<double>(slow.limit).count(),
               slow.connecting ? "--connect-timeout" : "--timeout",
               input_.interactive() ? "; Ctrl-C stops waiting" : "");
    output_.err().flush();
}

std::size_t cluster_io::connect_all() {
    std::vector<std::size_t> all(link_->size());
    for (std::size_t i = 0; i < all.size(); ++i)
        all[i] = i;
    // Connection chatter goes to standard error, so that standard output
    // holds the commands' results alone (CMU mode: standard output, as CMU);
    // --quiet drops all but failures.
    auto& o = output_.chatter();
    if (options_.cmu_mode && !options_.quiet)
        fmt::print(o, "\nConnecting to the server(s), it may take time\n"
                      "depending on the server(s) load, please wait...\n\n");
    auto results = link_->connect(all);
    std::size_t connected = 0;
    for (auto i : all) {
        print_connection(i, results[i]);
        if (!results[i].ok) continue;
        ++connected;
        session_.ever_connected[i] = true;
        session_.certificates[i] = results[i].hello.certificate_pem;
    }
    if (connected > 0 && connected < link_->size())
        fmt::print(output_.err(),
                   "WARNING: only {} of {} servers connected: commands will not reach "
                   "the others\n",
                   connected, link_->size());
    o.flush();
    return connected;
}

void cluster_io::print_connection(std::size_t i, const connect_outcome& result) {
    auto& o = output_.chatter();
    const auto& s = link_->server(i);
    if (!options_.quiet)
        fmt::print(o, "Connecting to server '{}': hostname '{}', port {}...\n", s.name, s.hostname,
                   s.port);
    if (!result.ok) {
        fmt::print(o, "Connection to server '{}': hostname '{}', port {} failed: {}\n", s.name,
                   s.hostname, s.port, result.error);
        return;
    }
    if (options_.quiet) return;
    fmt::print(o, "Connected to server '{}': hostname '{}', port {}.\n", s.name, s.hostname,
               s.port);
    if (options_.cmu_mode) fmt::print(o, "E2E enabled on {}\n", server_label(i, s.name));
}

std::vector<std::size_t> cluster_io::targets() {
    std::vector<std::size_t> wanted;
    if (session_.server_mode)
        wanted.push_back(*session_.server_mode);
    else
        for (std::size_t i = 0; i < link_->size(); ++i)
            wanted.push_back(i);
    std::vector<std::size_t> lost;
    for (auto i : wanted)
        if (!link_->connected(i) && session_.ever_connected[i]) lost.push_back(i);
    if (!lost.empty()) reconnect(lost);
    return wanted;
}

void cluster_io::reconnect(const std::vector<std::size_t>& lost) {
    auto& err = output_.err();
    auto results = link_->connect(lost);
    for (std::size_t k = 0; k < lost.size(); ++k) {
        auto i = lost[k];
        if (!results[k].ok) {
            fmt::print(err, "Reconnecting to {} failed: {}\n", label(i), results[k].error);
            continue;
        }
        session_.certificates[i] = results[k].hello.certificate_pem;
        fmt::print(err, "Reconnected to {}", label(i));
        if (session_.logins[i]) fmt::print(err, ": the login there was lost, run loginHSM again");
        fmt::print(err, "\n");
        session_.logins[i].reset();
    }
}

std::size_t cluster_io::live(const std::vector<std::size_t>& servers) const {
    return static_cast<std::size_t>(
        std::ranges::count_if(servers, [&](auto i) { return link_->connected(i); }));
}

std::vector<server_report> cluster_io::fan_out(const std::vector<std::size_t>& targets,
                                               operation op, json fields, bool interruptible) {
    auto outcomes =
        link_->call(targets, op, fields, interruptible ? &interrupt_requested : nullptr);
    wipe_password(fields);
    std::vector<server_report> reports;
    for (std::size_t k = 0; k < targets.size(); ++k)
        reports.push_back({targets[k], link_->server(targets[k]).name, std::move(outcomes[k])});
    return reports;
}

} // namespace hsm
