// SPDX-License-Identifier: Apache-2.0
// `hsmd serve`.
#include "serve.hpp"

#include "access/client_credentials.hpp"
#include "changes/prepared_resolver.hpp"
#include "hsmsh/endpoint.hpp"
#include "hsmsh/files.hpp"
#include "hsmsh/log.hpp"
#include "hsmsh/pki.hpp"
#include "hsmsh/process.hpp"
#include "hsmsh/tls.hpp"
#include "peers/peer_announcer.hpp"
#include "signal_stream.hpp"

#include <csignal>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>

#include <cstdio>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <thread>
#include <unistd.h>

namespace hsm {
namespace {

constexpr std::size_t max_pem_file = 64 * 1024;
constexpr std::size_t max_crl_file = 4 * 1024 * 1024; // about 100,000 revoked certificates

tcp::endpoint parse_listen(const std::string& text) {
    try {
        auto hp = parse_host_port(text, std::nullopt, true);
        boost::system::error_code ec;
        auto address = asio::ip::make_address(hp.host, ec);
        if (ec) throw lifecycle_error("--listen: not an address: " + hp.host);
        return {address, hp.port};
    } catch (const std::invalid_argument& e) {
        throw lifecycle_error(std::string("--listen: ") + e.what());
    }
}

tls_identity node_identity_files(const node_paths& paths) {
    return {read_file(paths.certificate(), max_pem_file),
            read_file(paths.key(), max_pem_file),
            {read_file(paths.trust_anchor(), max_pem_file)},
            {},
            {}};
}

// What the node presents when it calls its peers: its own node certificate
// when one is installed (its word about itself is then its own), else the
// cluster's.
tls_identity peer_client_identity(const node_paths& paths) {
    auto files = node_identity_files(paths);
    if (!fs::exists(paths.node_certificate())) return files;
    files.certificate = read_file(paths.node_certificate(), max_pem_file);
    files.private_key = read_file(paths.node_key(), max_pem_file);
    return files;
}

// The node's TLS identity with the client credentials registered in its
// store: anchors that may issue client certificates, and pinned leaves; and
// the revocation lists the operator put in the data directory (crl.pem).
tls_identity server_identity(const node_paths& paths, node_store& store) {
    auto files = node_identity_files(paths);
    if (fs::exists(paths.revocation_list()))
        files.revocations.push_back(read_file(paths.revocation_list(), max_crl_file));
    for (const auto& c : list_client_credentials(store)) {
        if (c.kind == "anchor")
            files.anchors.push_back(c.pem);
        else
            files.pinned.push_back(c.fingerprint);
    }
    return files;
}

// Tells systemd (Type=notify) what the node is doing: the sd_notify(3)
// protocol, one datagram to $NOTIFY_SOCKET; nothing without it.
void notify_systemd(const std::string& state) noexcept {
    const char* path = std::getenv("NOTIFY_SOCKET");
    if (!path || (path[0] != '/' && path[0] != '@')) return;
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::size_t length = std::strlen(path);
    if (length >= sizeof address.sun_path) return;
    std::memcpy(address.sun_path, path, length);
    if (path[0] == '@') address.sun_path[0] = '\0'; // an abstract socket
    int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return;
    auto size = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + length);
    (void)::sendto(fd, state.data(), state.size(), MSG_NOSIGNAL,
                   reinterpret_cast<const sockaddr*>(&address), size);
    ::close(fd);
}

// SIGHUP: the client credentials registered now, without a restart.
void reload_client_credentials(node_server& server, const node_paths& paths, node_store& store) {
    try {
        server.reload(
            std::make_shared<ssl::context>(make_server_context(server_identity(paths, store))));
        log_event("SIGHUP: client credentials reloaded; earlier connections closed");
    } catch (const std::exception& e) {
        log_error("SIGHUP: reload failed, the old credentials stay: {}", escape_control(e.what()));
    }
}

// The process as a node runs: no core dumps, SIGXFSZ ignored, the signals
// it takes blocked, stopped with its parent where asked. Returns the
// blocked signals.
sigset_t prepare_process(const serve_options& options) {
    disable_core_dumps();
    // A file-size limit reached must fail the write (EFBIG, a storage
    // failure the client sees), not kill the node with SIGXFSZ.
    std::signal(SIGXFSZ, SIG_IGN);
    // Before any thread starts, so that every thread has them blocked.
    auto taken_signals = block_signals({SIGINT, SIGTERM, SIGHUP});
    if (options.stop_with_parent) {
        ::prctl(PR_SET_PDEATHSIG, SIGTERM);
        // The parent may have gone before the line above: then we were re-parented.
        if (::getppid() != options.parent) throw lifecycle_error("the starting process is gone");
    }
    return taken_signals;
}

// --peer says who the peers are; without it, the node remembers whom it
// knew (and learns the rest from announcements).
json known_peers(const serve_options& options, node_store& store) {
    json peers = json(options.peers);
    if (options.peers.empty())
        peers = json::parse(store.meta().get(meta_key::peers).value_or("[]"), nullptr, false);
    else
        store.transact([&] { store.meta().set(meta_key::peers, peers.dump()); });
    return peers;
}

node_identity identity_of(const node_paths& paths, const node_store& store,
                          const tls_identity& files, const json& peers) {
    auto cert = cert_from_pem(files.certificate);
    if (!names_server_use(cert.get()) || !names_client_use(cert.get()))
        log_warning("cluster.crt does not name serverAuth and clientAuth in its extended key "
                    "usage: shells, PKCS#11 applications and peers refuse this node (unsuitable "
                    "certificate purpose); sign cluster.csr again with both and replace it");
    return {store.meta().get(meta_key::cluster_id).value_or(""),
            store.meta().get(meta_key::hsm_id).value_or(""),
            fingerprint(cert.get()),
            peers,
            read_file(paths.trust_anchor(), max_pem_file),
            fs::exists(paths.node_certificate())};
}

// Where the peers reach this node: --advertise, else the bound address
// unless it is a wildcard (then nowhere they could learn).
std::string advertised(const serve_options& options, const tcp::endpoint& bound) {
    auto self = options.advertise;
    if (!self.empty()) {
        try {
            self = parse_host_port(self, std::nullopt).text();
        } catch (const std::invalid_argument& e) {
            throw lifecycle_error(
                fmt::format("--advertise {}: {}", escape_control(self), e.what()));
        }
    }
    if (self.empty() && !bound.address().is_unspecified())
        self = host_port{bound.address().to_string(), bound.port()}.text();
    if (self.empty())
        log_warning("listening on a wildcard address: the peers learn no address of this node "
                    "(give --advertise HOST:PORT)");
    return self;
}

// The node serves: the log, the bound address on stdout, systemd told.
void announce_ready(const serve_options& options, const node_identity& identity,
                    const node_store& store, const tcp::endpoint& bound) {
    log_event("serving cluster {} as {} ({}) on {}:{}, kdf iterations {}", identity.cluster_id,
              identity.hsm_id, cluster_state_name(store.meta().state()),
              bound.address().to_string(), bound.port(), options.kdf_iterations);
    // The bound address on one line: scripts and tests read the port from it.
    auto where = host_port{bound.address().to_string(), bound.port()}.text();
    fmt::print("{}\n", where);
    std::fflush(stdout);
    notify_systemd(
        fmt::format("READY=1\nSTATUS=serving cluster {} on {}", identity.cluster_id, where));
}

} // namespace

int serve(const serve_options& options) {
    auto taken_signals = prepare_process(options);
    const auto& paths = options.paths;
    if (!fs::exists(paths.database())) throw lifecycle_error("no node in " + paths.dir.string());
    auto keys = load_cluster_keys(paths);
    node_store store(paths.database().string(), keys.audit());
    store.check_integrity();
    if (store.meta().state() == cluster_state::uninitialized)
        throw lifecycle_error("the node is UNINITIALIZED: run initialize-cluster first");
    ensure_node_request(paths); // a node made before node certificates existed

    auto peers = known_peers(options, store);
    auto files = server_identity(paths, store);
    auto identity = identity_of(paths, store, files, peers);
    auto tls = std::make_shared<ssl::context>(make_server_context(files));

    asio::io_context io(1);
    signal_stream signals(io, taken_signals);
    // At least two threads: key work of one user leaves one to the others.
    auto kdf_threads = std::max(2u, std::thread::hardware_concurrency());
    asio::thread_pool kdf_pool(kdf_threads);
    node_service service(store, identity, std::move(keys), options.kdf_iterations,
                         kdf_pool.get_executor());
    service.set_prepare_timeout(options.prepare_timeout);
    service.set_token_lifetime(options.token_timeout);
    service.set_key_quota(options.key_quota);
    service.set_key_work_threads(kdf_threads);
    node_server server(io, tls, service, options.limits);
    prepared_resolver resolver(io, service, store, peer_client_identity(paths), identity.cluster_id,
                               options.prepare_timeout * 10);
    service.on_count_peer_holders(
        [&resolver](node_service::change_probe probe, std::size_t enough, bool committed_only) {
            return resolver.peers_holding(std::move(probe), enough, committed_only);
        });
    auto bound = server.listen(parse_listen(options.listen));
    service.advertise(advertised(options, bound));
    peer_announcer announcer(io, service, peer_client_identity(paths), identity.cluster_id,
                             options.announce_interval);
    service.on_peers_changed([&announcer] { announcer.poke(); });

    signals.start([&](int signo) {
        if (signo == SIGHUP) return reload_client_credentials(server, paths, store);
        log_event("signal {}: stopping", signo);
        notify_systemd("STOPPING=1");
        server.stop();
        resolver.stop();
        announcer.stop();
        signals.cancel();
    });
    server.start();
    resolver.start();
    announcer.start();
    announce_ready(options, identity, store, bound);
    io.run();
    kdf_pool.join();
    log_event("stopped");
    return 0;
}

} // namespace hsm
