// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: the node's request dispatcher over an in-memory store.
//
// The input is a conversation: one request per line, as the wire carries it
// (JSON), handled in order. A line starting with '2' is sent on a second
// session, so that logins, prepared changes and lock-out meet each other.
// Properties: every request gets a reply, none is INTERNAL_ERROR (that would
// be a bug, not a refusal), every reply encodes to a message that decodes to
// the same status, and the store stays sound.
#include "node_service.hpp"
#include "user_store.hpp"

#include <cstdint>
#include <cstdlib>
#include <string_view>

namespace {

// The cheapest derivation the service accepts: the fuzzer explores rules,
// not PBKDF2.
constexpr std::uint32_t cheap = 1;

void check(bool ok) {
    if (!ok) std::abort();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static hsm::asio::io_context io;
    hsm::user_store store(":memory:");
    store.transact([&] {
        store.set_state(hsm::cluster_state::initialized);
        store.insert_user("admin", hsm::user_type::preco, hsm::hash_password("password", cheap));
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
    }
    for (auto& s : sessions)
        service.end_session(s);
    check(service.peers().size() <= hsm::peer_list::max_peers);
    check(store.count_users() <= hsm::max_users_per_node);
    std::size_t rows = 0;
    check(!store.verify_audit(rows)); // no broken link in the audit chain
    return 0;
}
