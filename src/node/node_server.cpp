// SPDX-License-Identifier: Apache-2.0
// The node's network side.
#include "node_server.hpp"

#include "hsmsh/log.hpp"
#include "hsmsh/protocol/frame_io.hpp"
#include "hsmsh/second_factor.hpp"
#include "hsmsh/tls.hpp"

#include <algorithm>
#include <map>

namespace hsm {
namespace {

std::string remote_name(const tcp::socket& socket) {
    boost::system::error_code ec;
    auto ep = socket.remote_endpoint(ec);
    return ec ? std::string("?") : fmt::format("{}:{}", ep.address().to_string(), ep.port());
}

bool is_transport_end(const boost::system::system_error& e) {
    auto ec = e.code();
    return ec == asio::error::eof || ec == asio::error::operation_aborted ||
           ec == asio::error::connection_reset || ec == ssl::error::stream_truncated;
}

} // namespace

node_server::node_server(asio::io_context& io, std::shared_ptr<ssl::context> tls,
                         node_service& service, server_limits limits)
    : io_(io), tls_(std::move(tls)), service_(service), limits_(limits), acceptor_(io) {}

tcp::endpoint node_server::listen(const tcp::endpoint& endpoint) {
    acceptor_.open(endpoint.protocol());
    acceptor_.set_option(tcp::acceptor::reuse_address(true));
    acceptor_.bind(endpoint);
    acceptor_.listen();
    return acceptor_.local_endpoint();
}

void node_server::start() {
    asio::co_spawn(io_, accept_loop(), asio::detached);
}

void node_server::stop() {
    stopping_ = true;
    boost::system::error_code ignored;
    acceptor_.close(ignored);
    for (auto& c : connections_)
        if (!c.busy()) c.stream->next_layer().cancel(ignored);
    for (auto& p : pending_)
        p.stream->next_layer().cancel(ignored);
}

void node_server::reload(std::shared_ptr<ssl::context> tls) {
    tls_ = std::move(tls);
    ++generation_;
    boost::system::error_code ignored;
    for (auto& c : connections_)
        if (!c.busy()) c.stream->next_layer().cancel(ignored);
    // Handshakes under the old credentials are cut too: the client retries.
    for (auto& p : pending_)
        p.stream->next_layer().cancel(ignored);
}

// Refusals are logged at most once a second, with a count: a flood of
// connections must not become a flood of log lines.
void node_server::refused(std::string_view why) {
    auto now = std::chrono::steady_clock::now();
    if (now - last_refusal_log_ < std::chrono::seconds(1)) {
        ++refusals_unlogged_;
        return;
    }
    log_warning("refused a connection: {} ({} more refused since the last such line)", why,
                refusals_unlogged_);
    last_refusal_log_ = now;
    refusals_unlogged_ = 0;
}

// Whether a new connection from `address` fits the handshake budget, once
// the oldest silent connection (from that address when it is that address's
// share that is spent) has been closed to make room if need be.
bool node_server::make_room(const std::string& address) {
    std::size_t total = 0, from_address = 0;
    for (const auto& p : pending_) {
        if (p.evicted) continue;
        ++total;
        if (p.address == address) ++from_address;
    }
    bool address_full = from_address >= limits_.max_pending_per_address;
    if (!address_full && total < limits_.max_pending) return true;
    for (auto& p : pending_) {
        if (p.evicted || !p.silent || (address_full && p.address != address)) continue;
        // Bytes already waiting mean a client whose first flight we have not
        // got round to yet (a burst of connections), not an idle socket.
        boost::system::error_code ec;
        if (p.stream->next_layer().available(ec) > 0 || ec) continue;
        p.evicted = true;
        p.stream->next_layer().close(ec);
        return true;
    }
    return false;
}

// The cluster's own nodes have places of their own (an idle one gives way
// to a new one); clients share max_connections, and when those are taken a
// connection that has not logged in and has been idle for a moment gives way.
bool node_server::admit(const session& s) {
    std::size_t peers = 0, clients = 0;
    for (const auto& c : connections_)
        if (!c.evicted) ++(c.s->peer_node ? peers : clients);
    if (s.peer_node)
        return peers < limits_.max_peer_connections ||
               evict_oldest([](const connection& c) { return c.s->peer_node; });
    return clients < limits_.max_connections || evict_one_not_logged_in() ||
           evict_one_of_greediest_user();
}

// The crypto or appliance user holding the most sessions, beyond
// sessions_per_user, gives one up (its oldest idle): one user cannot keep
// officers or other users out (an application reconnects and logs in again).
// Nor can several together: beyond max_connections - officer_reserve the
// greediest gives way whatever it holds.
bool node_server::evict_one_of_greediest_user() {
    auto user_session = [](const connection& c) { return c.logged_in() && !is_officer(c.s->type); };
    auto held = std::ranges::count_if(
        connections_, [&](const connection& c) { return !c.evicted && user_session(c); });
    auto reserve = std::min(limits_.officer_reserve, limits_.max_connections);
    auto beyond = static_cast<std::size_t>(held) > limits_.max_connections - reserve
                      ? 0
                      : limits_.sessions_per_user;
    return evict_from_greediest(
        user_session, [](const connection& c) { return std::to_string(*c.s->user_id); }, beyond);
}

// A connection that has not logged in and has tried no login for the grace:
// one a client opened and left (or keeps busy with hellos), not one whose
// login is on its way or waits for its second factor.
bool node_server::stale_login(const connection& c) const {
    return c.before_login() && !c.s->challenge &&
           std::chrono::steady_clock::now() - c.last_active >= limits_.login_grace;
}

// A connection that was refused a login and has not logged in since: it has
// no claim on a place ahead of a newcomer, busy or not (a client flooding
// wrong passwords is never idle).
bool node_server::failing_login(const connection& c) const {
    return c.before_login() && c.failed_login;
}

// Closes the oldest idle connection that `which` picks (or, `even_busy`, the
// oldest; a busy one closes after its reply).
bool node_server::evict_oldest(const std::function<bool(const connection&)>& which,
                               bool even_busy) {
    for (auto& c : connections_) {
        if (c.evicted || (c.busy() && !even_busy) || !which(c)) continue;
        c.evicted = true;
        boost::system::error_code ignored;
        c.stream->next_layer().cancel(ignored);
        return true;
    }
    return false;
}

// Of the certificate holding the most connections refused a login, or else
// the most stale ones that have not logged in, or else more than
// sessions_per_user that have not logged in (logins queued behind each
// other), the oldest is closed: one client's failing, idle or flooding
// connections make room for everyone else's. The newcomer's own certificate
// is not spared: clients often share one, and its idle connections must not
// crowd out its logins.
bool node_server::evict_one_not_logged_in() {
    auto certificate = [](const connection& c) { return c.s->peer; };
    auto not_logged_in = [](const connection& c) { return c.before_login(); };
    return evict_from_greediest([this](const connection& c) { return failing_login(c); },
                                certificate, 0, true) ||
           evict_from_greediest([this](const connection& c) { return stale_login(c); }, certificate,
                                0) ||
           evict_from_greediest(not_logged_in, certificate, limits_.sessions_per_user) ||
           evict_from_greediest(not_logged_in, certificate, limits_.sessions_per_user, true);
}

// Among the idle connections `eligible` picks, grouped by `owner`, the
// oldest of the group holding the most is closed, if it holds more than
// `beyond`.
bool node_server::evict_from_greediest(const std::function<bool(const connection&)>& eligible,
                                       const std::function<std::string(const connection&)>& owner,
                                       std::size_t beyond, bool even_busy) {
    std::map<std::string, std::size_t> held;
    for (const auto& c : connections_)
        if (!c.evicted && (!c.busy() || even_busy) && eligible(c)) ++held[owner(c)];
    auto greediest = std::ranges::max_element(
        held, [](const auto& a, const auto& b) { return a.second < b.second; });
    if (greediest == held.end() || greediest->second <= beyond) return false;
    const auto& most = greediest->first;
    return evict_oldest([&](const connection& c) { return eligible(c) && owner(c) == most; },
                        even_busy);
}

awaitable<void> node_server::accept_loop() {
    while (!stopping_) {
        tcp::socket socket(io_);
        auto [ec] = co_await acceptor_.async_accept(socket, asio::as_tuple(use_awaitable));
        if (ec == asio::error::operation_aborted || stopping_) break;
        if (ec) continue;
        auto address = socket.remote_endpoint(ec).address().to_string();
        if (ec || !make_room(address)) {
            refused(fmt::format("{} connections in the handshake", limits_.max_pending));
            socket.close(ec);
            continue;
        }
        asio::co_spawn(io_, serve(std::move(socket), address), asio::detached);
    }
}

// The TLS handshake, within its deadline; counted in the handshake budget
// (silent until the first byte arrives) until it is done.
awaitable<void> node_server::handshake(tls_stream& stream, pending& p) {
    co_await with_deadline(stream.next_layer().async_wait(tcp::socket::wait_read, use_awaitable),
                           limits_.handshake_timeout);
    p.silent = false;
    co_await with_deadline(stream.async_handshake(ssl::stream_base::server, use_awaitable),
                           limits_.handshake_timeout);
}

awaitable<void> node_server::serve(tcp::socket socket, std::string address) {
    std::string remote = remote_name(socket);
    // Replies written one after another (a connection carries several key
    // uses at once) leave at once, not held until the last one is acknowledged.
    boost::system::error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    // The connection keeps the context it was accepted under alive, should a
    // reload replace it meanwhile.
    auto tls = tls_;
    auto generation = generation_;
    tls_stream stream(std::move(socket), *tls);
    auto waiting = pending_.insert(pending_.end(), pending{&stream, address});
    std::optional<std::list<connection>::iterator> conn;
    session s;
    try {
        try {
            co_await handshake(stream, *waiting);
        } catch (...) {
            pending_.erase(waiting);
            throw;
        }
        pending_.erase(waiting);
        if (generation != generation_) co_return; // reloaded during the handshake
        auto* native = stream.native_handle();
        service_.authenticate(s, peer_fingerprint(native),
                              service_.node_named_by(SSL_get0_peer_certificate(native)));
        s.channel = channel_binding(stream.native_handle());
        if (!admit(s)) {
            refused(fmt::format("{} connections already", limits_.max_connections));
            co_return;
        }
        conn = connections_.insert(connections_.end(),
                                   connection{.stream = &stream,
                                              .generation = generation,
                                              .s = &s,
                                              .last_active = std::chrono::steady_clock::now()});
        co_await converse(stream, **conn, s);
        co_await with_deadline(stream.async_shutdown(use_awaitable), std::chrono::seconds(2));
    } catch (const frame_error& e) {
        log_warning("{}: {}, disconnected", remote, e.what());
        service_.audit_violation(s.peer, e.what());
    } catch (const deadline_exceeded&) {
        // Audited once the peer has proven who it is; an anonymous handshake
        // flood must not be able to fill the audit trail, nor the log.
        if (s.peer.empty()) {
            refused("the TLS handshake deadline passed");
        } else {
            log_warning("{}: deadline exceeded, disconnected", remote);
            service_.audit_violation(s.peer, "deadline exceeded");
        }
    } catch (const boost::system::system_error& e) {
        if (!is_transport_end(e))
            log_warning("{}: {}, disconnected", remote, escape_control(e.code().message()));
    } catch (const std::exception& e) {
        log_warning("{}: {}, disconnected", remote, escape_control(e.what()));
    }
    service_.end_session(s);
    if (conn) connections_.erase(*conn);
}

awaitable<void> node_server::converse(tls_stream& stream, connection& conn, session& s) {
    request_pipeline pipeline(stream, limits_.frame_timeout);
    conn.pipeline = &pipeline;
    std::exception_ptr failure;
    try {
        co_await read_and_answer(stream, conn, s, pipeline);
    } catch (...) {
        failure = std::current_exception();
    }
    // The requests in flight refer to the session and the stream: they end
    // (their writes bounded by the frame timeout) before either does.
    co_await pipeline.drained();
    conn.pipeline = nullptr;
    if (failure) std::rethrow_exception(failure);
}

awaitable<void> node_server::read_and_answer(tls_stream& stream, connection& conn, session& s,
                                             request_pipeline& pipeline) {
    while (current(conn)) {
        std::string body;
        // A login waiting for its second factor has the challenge's time;
        // a peer's connection carries one call at a time and closes.
        auto idle = s.user_id || s.challenge ? limits_.idle_timeout
                    : s.peer_node ? std::min(limits_.idle_timeout, limits_.peer_idle_timeout)
                                  : std::min(limits_.idle_timeout, limits_.login_timeout);
        try {
            body = co_await read_frame(stream, idle, limits_.frame_timeout);
        } catch (const boost::system::system_error& e) {
            if (e.code() == asio::error::operation_aborted && !current(conn)) co_return;
            throw;
        }
        auto size = body.size();
        auto decoded = decode_request(body);
        wipe(body);
        if (auto* e = std::get_if<decode_error>(&decoded))
            throw frame_error(std::string(decode_error_name(*e)));
        auto& r = std::get<request>(decoded);
        if (s.user_id && node_service::side_by_side(r.op)) {
            // A key use runs beside the others in flight; the next request is read meanwhile.
            co_await pipeline.room_for(size);
            pipeline.started(size);
            asio::co_spawn(stream.get_executor(), answer(s, std::move(r), pipeline, size),
                           [this, &conn](std::exception_ptr e, status) {
                               boost::system::error_code ignored;
                               if (e) {
                                   // A reply that could not be written: the connection is
                                   // gone, and the reader hears so (as the end of the stream).
                                   conn.stream->lowest_layer().shutdown(tcp::socket::shutdown_both,
                                                                        ignored);
                                   return;
                               }
                               if (conn.logged_in())
                                   conn.last_active = std::chrono::steady_clock::now();
                               // A stop, a reload or an eviction spared the connection
                               // while it was busy: now idle, its read ahead ends here.
                               if (!current(conn) && !conn.busy())
                                   conn.stream->next_layer().cancel(ignored);
                           });
            continue;
        }
        // Anything else runs alone: after what is in flight, before what follows.
        co_await pipeline.drained();
        pipeline.started(size);
        bool login = r.op == operation::login || r.op == operation::login_2fa;
        auto code = co_await answer(s, std::move(r), pipeline, size);
        if (login) conn.failed_login = !conn.logged_in() && code == status::user_login_failure;
        // Before a login, only a login attempt counts as activity: hellos
        // without one do not keep a place (issue 26 red team, S1 and S2).
        if (login || conn.logged_in()) conn.last_active = std::chrono::steady_clock::now();
    }
}

// Until the node stops, a reload of the credentials ends the connections
// made before it, or the connection gives way to another.
bool node_server::current(const connection& c) const {
    return !stopping_ && c.generation == generation_ && !c.evicted;
}

awaitable<status> node_server::answer(session& s, request r, request_pipeline& pipeline,
                                      std::size_t size) {
    try {
        auto answer = co_await service_.handle(s, r);
        auto code = answer.code;
        std::string encoded = encode(answer);
        // The reply's tree (1,024 users: about a megabyte) is not needed while
        // the write waits on a slow reader; with 32 such readers it was most
        // of the node's memory.
        answer.fields = json();
        co_await pipeline.send(std::move(encoded));
        pipeline.finished(size);
        co_return code;
    } catch (...) {
        pipeline.finished(size);
        throw;
    }
}

} // namespace hsm
