// SPDX-License-Identifier: Apache-2.0
// Resolving prepared changes left in doubt.
#include "changes/prepared_resolver.hpp"

#include "hsmsh/duration.hpp"
#include "hsmsh/log.hpp"
#include "hsmsh/protocol/replies.hpp"
#include "peers/peer_call.hpp"

#include <algorithm>

namespace hsm {
namespace {

constexpr auto poll_interval = std::chrono::seconds(1);
constexpr auto peer_timeout = std::chrono::seconds(3);

peer_answer answer_from(const std::string& outcome) {
    if (outcome == "committed") return peer_answer::committed;
    if (outcome == "aborted") return peer_answer::aborted;
    if (outcome == "prepared") return peer_answer::prepared;
    return peer_answer::unknown;
}

} // namespace

prepared_resolver::prepared_resolver(asio::io_context& io, node_service& service, node_store& store,
                                     const tls_identity& peer_identity, std::string cluster_id,
                                     std::chrono::milliseconds give_up_after)
    : io_(io), service_(service), store_(store), tls_(make_client_context(peer_identity)),
      cluster_id_(std::move(cluster_id)), give_up_after_(give_up_after), timer_(io) {}

void prepared_resolver::start() {
    asio::co_spawn(io_, loop(), asio::detached);
}

void prepared_resolver::stop() {
    stopped_ = true;
    timer_.cancel();
}

awaitable<void> prepared_resolver::loop() {
    while (!stopped_) {
        timer_.expires_after(poll_interval);
        auto [ec] = co_await timer_.async_wait(asio::as_tuple(use_awaitable));
        if (ec || stopped_) break;
        try {
            co_await resolve_due();
        } catch (const std::exception& e) {
            log_error("resolving prepared changes failed: {}", escape_control(e.what()));
        }
    }
}

awaitable<void> prepared_resolver::resolve_due() {
    auto now = unix_ms();
    for (const auto& row : store_.changes().past(now)) {
        std::vector<peer_answer> answers;
        // A key change follows only the very change a peer committed: a
        // crypto user who committed another change under this txid there
        // would have this one commit on this node alone.
        auto probe = service_.probe_of(row.txid);
        // A copy: announcements may add peers while we wait for answers.
        auto peers = service_.peers();
        for (const auto& peer : peers) {
            std::string theirs;
            auto answer = co_await ask(peer, row.txid, probe ? &*probe : nullptr, &theirs);
            if (probe && answer == peer_answer::committed && theirs != probe->identity)
                answer = peer_answer::aborted;
            answers.push_back(answer);
            if (answer == peer_answer::committed) break;
        }
        bool give_up = now > row.deadline_ms + give_up_after_.count();
        auto decision = resolve_prepared(answers, give_up);
        // Told a committing peer it holds the change: no abort while a peer
        // still holds it prepared (it may be the one committing).
        if (decision == resolution::abort && !give_up && service_.vouched(row.txid) &&
            std::ranges::count(answers, peer_answer::prepared) > 0)
            decision = resolution::wait;
        if (decision == resolution::wait || stopped_) continue;
        if (!store_.changes().find(row.txid)) continue; // the shell finished it meanwhile
        session resolver;
        resolver.peer = "resolver";
        resolver.peer_node = true;
        // A commit here follows a peer's (resolve_prepared): decided.
        bool commit = decision == resolution::commit;
        service_.finish_tx(resolver, row.txid, commit, std::nullopt, commit);
        log_event("prepared change {} on {} resolved: {} (asked {} peers)", row.txid,
                  escape_control(row.user_name), commit ? "committed" : "aborted", answers.size());
    }
}

awaitable<std::size_t> prepared_resolver::peers_holding(node_service::change_probe probe,
                                                        std::size_t enough, bool committed_only) {
    std::size_t holding = 0;
    for (const auto& peer : service_.peers()) {
        if (holding >= enough) break;
        std::string theirs;
        auto answer = co_await ask(peer, probe.txid, &probe, &theirs, !committed_only);
        bool holds = answer == peer_answer::committed ||
                     (!committed_only && answer == peer_answer::prepared);
        // The very change: the same keys, sealed the same, not another
        // change under the same transaction id.
        if (holds && theirs == probe.identity) ++holding;
    }
    co_return holding;
}

awaitable<peer_answer> prepared_resolver::ask(const std::string& peer, const std::string& txid,
                                              const node_service::change_probe* probe,
                                              std::string* identity, bool vouch) {
    // Named, not a temporary in the co_await expression: g++ 12 cannot build
    // a coroutine frame around a braced JSON initializer there.
    json fields;
    fields["txid"] = txid;
    if (probe) fields["handles"] = probe->handles;
    if (vouch) fields["vouch"] = true;
    auto r = co_await call_peer(tls_, cluster_id_, peer, operation::tx_status, std::move(fields),
                                peer_timeout);
    if (!r || r->code != status::ok) co_return peer_answer::unreachable;
    auto reply = tx_status_from(r->fields);
    if (identity) *identity = std::move(reply.change);
    co_return answer_from(reply.outcome);
}

} // namespace hsm
