// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: the node's request dispatcher over an in-memory store.
//
// The input is a conversation: one request per line, as the wire carries it
// (JSON), handled in order. A line starting with '2' is sent on a second
// session, so that logins, prepared changes and lock-out meet each other.
// Properties: every request gets a reply, none is INTERNAL_ERROR (that would
// be a bug, not a refusal), every reply encodes to a message that decodes to
// the same status, and the store stays sound. The process counts the
// prepared changes it committed and prints the count when it exits.
#include "node_service.hpp"
#include "store/node_store.hpp"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <string_view>

namespace {

// The cheapest derivation a node stores: a record hashed with fewer
// iterations is refused at commit and in a syncUser (planned_change::
// well_formed), which would leave the fuzzer exploring only the refusal.
// Logins cost this much whatever the node is given (login_cost).
constexpr std::uint32_t cheap = hsm::min_kdf_iterations;

void check(bool ok) {
    if (!ok) std::abort();
}

// What the inputs reached, printed at exit: how far a run gets past the
// refusals (.ci/run shows it after the 60 s run).
struct reached {
    std::size_t commits = 0; // prepared changes committed, syncs included
    std::size_t syncs = 0;   // of which syncUser records
    reached() = default;
    reached(const reached&) = delete;
    reached& operator=(const reached&) = delete;
    ~reached() {
        std::fprintf(stderr, "fuzz_dispatch: %zu commits, %zu of them syncUser\n", commits, syncs);
    }
};
reached counts;

std::string txid_of(const hsm::request& r) {
    auto t = r.fields.find("txid");
    return t != r.fields.end() && t->is_string() ? t->get<std::string>() : std::string();
}

// Counts a commit when a prepare and its commit succeed; `prepared` maps
// this input's prepared transactions to the change they carry.
void count(const hsm::request& r, const hsm::reply& reply,
           std::map<std::string, std::string>& prepared) {
    if (reply.code != hsm::status::ok) return;
    if (r.op == hsm::operation::prepare) {
        auto change = r.fields.find("change");
        prepared[txid_of(r)] =
            change != r.fields.end() && change->is_string() ? change->get<std::string>() : "";
    } else if (r.op == hsm::operation::commit) {
        auto p = prepared.find(txid_of(r));
        if (p == prepared.end()) return;
        ++counts.commits;
        if (p->second == "sync_user") ++counts.syncs;
        prepared.erase(p);
    }
}

} // namespace

// The replay test's check that the stored corpus still commits a change of
// its own (a create, a password change) and a syncUser record.
extern "C" bool hsmsh_fuzz_corpus_reached() {
    return counts.commits > counts.syncs && counts.syncs > 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static hsm::asio::io_context io;
    hsm::node_store store(":memory:");
    store.transact([&] {
        store.meta().set_state(hsm::cluster_state::initialized);
        store.users().insert("admin", hsm::user_type::preco, hsm::hash_password("password", cheap));
    });
    hsm::node_service service(
        store, {"cluster-f", "hsm-fuzz", "SHA256:00", hsm::json::array(), {}, false},
        hsm::cluster_keys(hsm::bytes(hsm::sealing_key_size, 7)), cheap, io.get_executor());
    // Two clients, and another node of the cluster (its certificate's
    // fingerprint is the node's own): lines start with '2' or '3' for them.
    hsm::session sessions[3];
    service.authenticate(sessions[0], "SHA256:aa");
    service.authenticate(sessions[1], "SHA256:bb");
    service.authenticate(sessions[2], "SHA256:00");

    std::string_view input(reinterpret_cast<const char*>(data), size);
    std::map<std::string, std::string> prepared;
    int requests = 0;
    while (!input.empty() && requests++ < 64) {
        auto end = input.find('\n');
        auto line = input.substr(0, end);
        input.remove_prefix(end == std::string_view::npos ? input.size() : end + 1);
        std::size_t who = line.empty() ? 0 : line.front() == '2' ? 1 : line.front() == '3' ? 2 : 0;
        auto& s = sessions[who];
        if (who != 0) line.remove_prefix(1);

        auto decoded = hsm::decode_request(line);
        auto* r = std::get_if<hsm::request>(&decoded);
        if (!r) continue;
        auto f = hsm::asio::co_spawn(io, service.handle(s, *r), hsm::asio::use_future);
        io.restart();
        io.run();
        auto reply = f.get(); // handle() never throws
        check(reply.id == r->id);
        check(reply.code != hsm::status::internal_error);
        auto again = hsm::decode_reply(hsm::encode(reply));
        auto* back = std::get_if<hsm::reply>(&again);
        check(back && back->code == reply.code);
        count(*r, reply, prepared);
    }
    for (auto& s : sessions)
        service.end_session(s);
    check(service.peers().size() <= hsm::peer_list::max_peers);
    check(store.users().count() <= hsm::max_users_per_node);
    std::size_t rows = 0;
    check(!store.audit().verify(rows)); // no broken link in the audit chain
    return 0;
}
