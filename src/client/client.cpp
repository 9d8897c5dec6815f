// SPDX-License-Identifier: Apache-2.0
// A client connection to one node.
#include "hsmsh/client/client.hpp"

#include "hsmsh/log.hpp"
#include "hsmsh/protocol/frame_io.hpp"
#include "hsmsh/protocol/payloads.hpp"
#include "hsmsh/second_factor.hpp"
#include "hsmsh/secret.hpp"
#include "hsmsh/tls.hpp"

#include <fmt/format.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

namespace hsm {
namespace {

std::string ssl_reason(const boost::system::error_code& ec) {
    if (ec.category() == asio::error::get_ssl_category()) {
        const char* reason = ERR_reason_error_string(static_cast<unsigned long>(ec.value()));
        if (reason) return reason;
    }
    return ec.message();
}

} // namespace

std::string_view client_failure_name(client_failure f) noexcept {
    switch (f) {
    case client_failure::connect:
        return "connection failed";
    case client_failure::timeout:
        return "timed out";
    case client_failure::untrusted_server:
        return "untrusted server certificate";
    case client_failure::wrong_cluster:
        return "wrong cluster";
    case client_failure::client_refused:
        return "client certificate refused";
    case client_failure::closed:
        return "connection closed";
    case client_failure::protocol:
        return "protocol error";
    }
    return "error";
}

node_client::node_client(asio::any_io_executor executor, ssl::context& context)
    : executor_(std::move(executor)), context_(context) {}

awaitable<node_hello> node_client::connect(std::string host, std::uint16_t port,
                                           std::string cluster_id, duration timeout) {
    auto attempt = [&]() -> awaitable<node_hello> {
        co_await open(host, port);
        co_await handshake(cluster_id);
        // Named, not a temporary: GCC 12 destroys brace-initialised temporaries
        // in a co_await expression twice (seen as a double free in hsmsh with
        // Debian 12's g++ 12.2).
        auto hello = next_request(operation::hello);
        auto id = hello.id;
        auto body = co_await exchange(std::move(hello));
        auto r = checked(decode_reply(body), id);
        if (r.code != status::ok)
            throw client_error(client_failure::protocol,
                               fmt::format("hello refused: {}", status_name(r.code)));
        auto said = hello_reply_from(r.fields);
        node_hello h;
        h.version = static_cast<std::uint32_t>(said.version);
        h.cluster_id = std::move(said.cluster_id);
        h.hsm_id = std::move(said.hsm_id);
        h.state = std::move(said.state);
        h.certificate_pem = peer_certificate_pem(stream_->native_handle());
        h.fingerprint = peer_fingerprint(stream_->native_handle());
        co_return h;
    };
    try {
        co_return co_await with_deadline(attempt(), timeout);
    } catch (const client_error&) {
        stream_.reset();
        throw;
    } catch (const boost::system::system_error& e) {
        auto error = classify(e, true);
        stream_.reset();
        throw error;
    } catch (const std::exception& e) {
        stream_.reset(); // not a transport failure (an allocation, say)
        throw client_error(client_failure::protocol, e.what());
    }
}

awaitable<void> node_client::open(const std::string& host, std::uint16_t port) {
    handshake_done_ = false;
    channel_.clear();
    expired_ = false;
    stream_.emplace(executor_, context_);
    tcp::resolver resolver(executor_);
    auto endpoints = co_await resolver.async_resolve(host, std::to_string(port), use_awaitable);
    co_await asio::async_connect(stream_->next_layer(), endpoints, use_awaitable);
    stream_->next_layer().set_option(tcp::no_delay(true));
}

awaitable<void> node_client::handshake(const std::string& cluster_id) {
    co_await stream_->async_handshake(ssl::stream_base::client, use_awaitable);
    handshake_done_ = true;
    channel_ = channel_binding(stream_->native_handle());
    if (!pin_.empty() && peer_fingerprint(stream_->native_handle()) != pin_)
        throw client_error(client_failure::wrong_cluster,
                           "the node's certificate is not the cluster's (pinned)");
    auto name = peer_common_name(stream_->native_handle());
    if (!cluster_id.empty() && name != cluster_id)
        throw client_error(client_failure::wrong_cluster,
                           fmt::format("the node's certificate names cluster '{}', expected '{}'",
                                       escape_terminal(name), cluster_id));
}

request node_client::next_request(operation op, json fields) {
    request req;
    req.id = next_id_++;
    req.op = op;
    req.fields = std::move(fields);
    return req;
}

awaitable<std::string> node_client::exchange(request req) {
    std::string out = encode(req);
    wipe_password(req.fields);
    wipe_data(req.fields); // a plaintext, or a key's material
    try {
        co_await write_frame(*stream_, out);
    } catch (...) {
        wipe(out);
        throw;
    }
    wipe(out);
    co_return co_await read_frame(*stream_);
}

template <typename Reply>
Reply node_client::checked(std::variant<Reply, decode_error> decoded, std::uint64_t id) {
    if (auto* e = std::get_if<decode_error>(&decoded)) {
        stream_.reset();
        throw client_error(client_failure::protocol,
                           fmt::format("bad reply: {}", decode_error_name(*e)));
    }
    auto& r = std::get<Reply>(decoded);
    if (r.id != id) {
        stream_.reset();
        throw client_error(client_failure::protocol, "reply to another request");
    }
    return std::move(r);
}

awaitable<std::string> node_client::bounded(awaitable<std::string> exchanged, duration timeout) {
    expired_ = false;
    try {
        if (timeout == no_deadline) co_return co_await std::move(exchanged);
        co_return co_await with_deadline(std::move(exchanged), timeout);
    } catch (const boost::system::system_error& e) {
        auto error = classify(e, false);
        stream_.reset();
        throw error;
    } catch (const std::exception& e) {
        stream_.reset();
        throw client_error(client_failure::protocol, e.what());
    }
}

awaitable<node_client::sent> node_client::send(operation op, json fields, duration timeout) {
    if (!stream_) throw client_error(client_failure::closed, "not connected");
    auto req = next_request(op, std::move(fields)); // named: see the GCC 12 note above
    auto id = req.id;
    auto body = co_await bounded(exchange(std::move(req)), timeout);
    co_return sent{std::move(body), id};
}

awaitable<reply> node_client::call(operation op, json fields, duration timeout) {
    auto answer = co_await send(op, std::move(fields), timeout);
    co_return checked(decode_reply(answer.body), answer.id);
}

awaitable<user_list_reply> node_client::list_users(duration timeout) {
    auto answer = co_await send(operation::list_users, json::object(), timeout);
    co_return checked(decode_user_list_reply(answer.body), answer.id);
}

awaitable<void> node_client::close(duration timeout) {
    if (!stream_) co_return;
    try {
        co_await with_deadline(stream_->async_shutdown(use_awaitable), timeout);
    } catch (const std::exception&) {
        // The peer may already be gone; closing is best effort.
    }
    stream_.reset();
}

void node_client::expire() noexcept {
    expired_ = true;
    abort();
}

void node_client::abort() noexcept {
    if (!stream_) return;
    boost::system::error_code ignored;
    stream_->lowest_layer().close(ignored);
}

client_error node_client::classify(const boost::system::system_error& e, bool connecting) const {
    auto ec = e.code();
    if (expired_ || ec == asio::error::timed_out)
        return {client_failure::timeout, "no answer before the deadline"};
    if (ec == boost::system::errc::bad_message) return {client_failure::protocol, e.what()};
    if (!stream_ || (!handshake_done_ && ec.category() != asio::error::get_ssl_category()))
        return {client_failure::connect, ec.message()};
    if (!handshake_done_) {
        long verify = SSL_get_verify_result(const_cast<tls_stream&>(*stream_).native_handle());
        if (verify != X509_V_OK)
            return {client_failure::untrusted_server,
                    fmt::format("untrusted server certificate: {}",
                                X509_verify_cert_error_string(verify))};
        return {client_failure::connect, fmt::format("TLS handshake failed: {}", ssl_reason(ec))};
    }
    // TLS 1.3 reports a refused client certificate on the first read.
    if (connecting && ec.category() == asio::error::get_ssl_category())
        return {client_failure::client_refused,
                fmt::format("the node refused our client certificate: {}", ssl_reason(ec))};
    return {client_failure::closed, ssl_reason(ec)};
}

} // namespace hsm
