// SPDX-License-Identifier: Apache-2.0
// hsmd: one HSM node. Parses options and runs the chosen subcommand, each in
// a function of its own; defaults come from serve_options and server_limits.
#include "access/client_credentials.hpp"
#include "serve.hpp"
#include "store/node_data.hpp"

#include "hsmsh/files.hpp"
#include "hsmsh/log.hpp"
#include "hsmsh/pki.hpp"
#include "hsmsh/version.hpp"

#include <functional>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <sys/stat.h>
#include <unistd.h>

namespace {

using namespace hsm;

// What the options fill in; one instance, read by the subcommand that runs.
struct options {
    std::string data, cluster_id, signed_cert, trust_anchor, from;
    std::uint32_t iterations = default_kdf_iterations;
    std::string cert_file, anchor_file, fingerprint, expected_head;
    serve_options serve;
    double handshake_timeout = to_seconds(server_limits{}.handshake_timeout);
    double frame_timeout = to_seconds(server_limits{}.frame_timeout);
    double idle_timeout = to_seconds(server_limits{}.idle_timeout);
    double login_timeout = to_seconds(server_limits{}.login_timeout);
    double prepare_timeout = to_seconds(serve_options{}.prepare_timeout);
    double token_timeout = to_seconds(serve_options{}.token_timeout);
};

int print_state(cluster_state state, const std::string& message) {
    fmt::print("{}\n",
               json{{"State", cluster_state_name(state)}, {"StateMessage", message}}.dump());
    return 0;
}

int print_node(const options& o) {
    fmt::print("{}\n", describe_node({o.data}).dump(2));
    return 0;
}

int run_create(const options& o) {
    create_cluster({o.data}, o.cluster_id);
    return print_node(o);
}

int run_initialize(const options& o) {
    node_paths paths{o.data};
    auto before = cluster_state::uninitialized;
    try {
        before = node_state(paths);
        initialize_cluster(paths, o.cluster_id, o.signed_cert, o.trust_anchor, o.iterations);
        return print_state(cluster_state::initialized,
                           "Cluster initialized: log in as PRECO admin");
    } catch (const std::exception& e) {
        print_state(before, e.what());
        return 1;
    }
}

int run_clone(const options& o) {
    clone_node({o.from}, {o.data});
    return print_node(o);
}

// As the other life-cycle steps: the state and the reason, on a refusal.
int run_install_node_certificate(const options& o) {
    try {
        install_node_certificate({o.data}, o.signed_cert);
    } catch (const lifecycle_error& e) {
        print_state(node_state({o.data}), e.what());
        return 1;
    }
    return print_node(o);
}

int run_register(const options& o) {
    if (o.cert_file.empty() == o.anchor_file.empty()) {
        fmt::print(stderr, "hsmd: give --cert or --trust-anchor\n");
        return 2;
    }
    auto store = open_store({o.data});
    bool anchor = !o.anchor_file.empty();
    auto c = register_client_credential(
        store, read_file(anchor ? o.anchor_file : o.cert_file, max_pem_characters * 4), anchor);
    fmt::print(
        "{}\nTakes effect when the node next starts.\n",
        json{{"Fingerprint", c.fingerprint}, {"Kind", c.kind}, {"Subject", c.subject}}.dump());
    return 0;
}

int run_list_clients(const options& o) {
    auto store = open_store({o.data});
    for (const auto& c : list_client_credentials(store))
        fmt::print("{} {} {}\n", c.kind, c.fingerprint, c.subject);
    return 0;
}

int run_remove_client(const options& o) {
    auto store = open_store({o.data});
    if (remove_client_credential(store, o.fingerprint)) return 0;
    fmt::print(stderr, "hsmd: no client certificate {}\n", o.fingerprint);
    return 1;
}

int run_audit_verify(const options& o) {
    auto store = open_store({o.data});
    std::size_t rows = 0;
    if (auto bad = store.audit().verify(rows)) {
        fmt::print("audit trail broken at row {} ({} rows before it are intact): it was altered "
                   "there or before\n",
                   *bad, rows);
        return 1;
    }
    auto head = store.audit().head();
    if (!o.expected_head.empty() && !store.audit().holds_row(*parse_audit_head(o.expected_head))) {
        fmt::print("audit trail cut or rewritten: it no longer holds row {} as recorded (now {} "
                   "rows, head {}:{})\n",
                   parse_audit_head(o.expected_head)->rows, head.rows, head.rows, head.hash);
        return 1;
    }
    fmt::print("audit trail intact: {} rows, head {}:{}\n", rows, head.rows, head.hash);
    return 0;
}

int run_serve(options& o) {
    o.serve.paths = {o.data};
    o.serve.limits.handshake_timeout = from_seconds(o.handshake_timeout);
    o.serve.limits.frame_timeout = from_seconds(o.frame_timeout);
    o.serve.limits.idle_timeout = from_seconds(o.idle_timeout);
    o.serve.limits.login_timeout = from_seconds(o.login_timeout);
    o.serve.prepare_timeout =
        std::chrono::duration_cast<std::chrono::milliseconds>(from_seconds(o.prepare_timeout));
    o.serve.token_timeout =
        std::chrono::duration_cast<std::chrono::milliseconds>(from_seconds(o.token_timeout));
    return serve(o.serve);
}

void serve_options_of(CLI::App& srv, options& o) {
    auto& limits = o.serve.limits;
    srv.add_option("--listen", o.serve.listen, "ADDR:PORT (port 0: any free port)")
        ->capture_default_str();
    srv.add_option("--peer", o.serve.peers,
                   "HOST:PORT of another node of the cluster (one is enough: nodes tell each "
                   "other the rest)");
    srv.add_option("--advertise", o.serve.advertise,
                   "HOST:PORT where the other nodes reach this one (default: the listening "
                   "address, unless it is a wildcard)");
    srv.add_flag("--stop-with-parent", o.serve.stop_with_parent,
                 "Stop when the process that started this one exits (hsmsh demo)");
    srv.add_option("--kdf-iterations", o.serve.kdf_iterations, "PBKDF2 iterations")
        ->check(CLI::Range(min_kdf_iterations, max_kdf_iterations))
        ->capture_default_str();
    srv.add_option("--handshake-timeout", o.handshake_timeout, "Seconds for a TLS handshake")
        ->check(CLI::Range(0.1, 3600.0))
        ->capture_default_str();
    srv.add_option("--frame-timeout", o.frame_timeout, "Seconds for a frame's body to arrive")
        ->check(CLI::Range(0.1, 3600.0))
        ->capture_default_str();
    srv.add_option("--idle-timeout", o.idle_timeout, "Seconds a connection may stay idle")
        ->check(CLI::Range(0.1, 86400.0))
        ->capture_default_str();
    srv.add_option("--login-timeout", o.login_timeout,
                   "Seconds a connection that has not logged in may stay idle")
        ->check(CLI::Range(0.1, 86400.0))
        ->capture_default_str();
    srv.add_option("--prepare-timeout", o.prepare_timeout,
                   "Seconds a prepared change waits for its commit")
        ->check(CLI::Range(0.5, 86400.0))
        ->capture_default_str();
    srv.add_option("--token-timeout", o.token_timeout,
                   "Seconds a quorum token (or a 2FA challenge) lives")
        ->check(CLI::Range(1.0, 86400.0))
        ->capture_default_str();
    srv.add_option("--key-quota", o.serve.key_quota, "Keys one crypto user may own on this node")
        ->check(CLI::Range(std::size_t{1}, max_keys_per_node))
        ->capture_default_str();
    srv.add_option("--max-connections", limits.max_connections,
                   "Connections that finished the TLS handshake")
        ->check(CLI::Range(1, 4096))
        ->capture_default_str();
    srv.add_option("--max-peer-connections", limits.max_peer_connections,
                   "Connections from the cluster's own nodes, beside those")
        ->check(CLI::Range(1, 4096))
        ->capture_default_str();
    srv.add_option("--max-pending", limits.max_pending, "Connections still in the TLS handshake")
        ->check(CLI::Range(1, 4096))
        ->capture_default_str();
    srv.add_option("--max-pending-per-address", limits.max_pending_per_address,
                   "Of those, from one address")
        ->check(CLI::Range(1, 4096))
        ->capture_default_str();
}

// hsmd's subcommands, each with what runs it once parsed.
class subcommands {
public:
    explicit subcommands(options& o) : o_(o) {}

    template <typename Run>
    CLI::App* add(CLI::App* parent, const char* name, const char* summary, Run run) {
        auto* sub = parent->add_subcommand(name, summary);
        commands_.emplace_back(sub, [&o = o_, run] { return run(o); });
        return sub;
    }

    /// The --data option of a subcommand.
    CLI::App* data(CLI::App* sub, const char* what = "Data directory") {
        sub->add_option("--data", o_.data, what)->required();
        return sub;
    }

    options& o() noexcept { return o_; }

    /// Runs the subcommand parsed; 0 when none was.
    int run_parsed() const {
        for (const auto& [sub, run] : commands_)
            if (sub->parsed()) return run();
        return 0;
    }

private:
    options& o_;
    std::vector<std::pair<CLI::App*, std::function<int()>>> commands_;
};

// A node's life: create, initialize, describe, clone, its own certificate.
void add_cluster_commands(CLI::App& app, subcommands& c) {
    auto& o = c.o();
    auto* create = c.add(&app, "create-cluster", "Create a node: key pair and CSR", run_create);
    c.data(create);
    create->add_option("--cluster-id", o.cluster_id, "Cluster id")->required();

    auto* init =
        c.add(&app, "initialize-cluster", "Claim the cluster with a signed cert", run_initialize);
    c.data(init);
    init->add_option("--cluster-id", o.cluster_id, "Cluster id")->required();
    init->add_option("--signed-cert", o.signed_cert, "Cluster certificate (PEM)")->required();
    init->add_option("--trust-anchor", o.trust_anchor, "Issuing CA certificate (PEM)")->required();
    init->add_option("--kdf-iterations", o.iterations, "PBKDF2 iterations for admin")
        ->check(CLI::Range(min_kdf_iterations, max_kdf_iterations));

    c.data(c.add(&app, "describe", "Print the node's ids, state, CSR, peers", print_node));

    auto* clone = c.add(&app, "clone", "Create a new node of the same cluster", run_clone);
    clone->add_option("--from", o.from, "Source data directory")->required();
    c.data(clone, "New data directory");

    auto* node_cert = c.add(&app, "install-node-certificate",
                            "Install this node's own certificate (signed node.csr)",
                            run_install_node_certificate);
    c.data(node_cert);
    node_cert->add_option("--signed-cert", o.signed_cert, "Node certificate (PEM)")->required();
}

// The client certificates and CAs a node accepts.
void add_client_commands(CLI::App& app, subcommands& c) {
    auto& o = c.o();
    auto* reg = c.add(&app, "register-client-certificate",
                      "Pin a client certificate, or register a client CA", run_register);
    c.data(reg);
    auto* reg_cert = reg->add_option("--cert", o.cert_file, "Client certificate to pin (PEM)");
    reg->add_option("--trust-anchor", o.anchor_file, "Client CA certificate (PEM), at most 2")
        ->excludes(reg_cert);

    c.data(c.add(&app, "list-client-certificates", "List pinned certificates and client CAs",
                 run_list_clients));

    auto* remove = c.add(&app, "remove-client-certificate",
                         "Remove a pinned certificate or client CA", run_remove_client);
    c.data(remove);
    remove->add_option("--fingerprint", o.fingerprint, "SHA256:... as listed")->required();
}

void add_audit_commands(CLI::App& app, subcommands& c) {
    auto* audit = app.add_subcommand("audit", "Work with the audit trail");
    audit->require_subcommand(1);
    auto* verify =
        c.add(audit, "verify", "Check the audit trail's keyed hash chain", run_audit_verify);
    c.data(verify);
    verify
        ->add_option("--head", c.o().expected_head,
                     "ROWS:HASH printed by an earlier verify or getHSMInfo; the trail must "
                     "still hold that row, unchanged")
        ->check([](const std::string& v) {
            return parse_audit_head(v) ? std::string() : std::string("--head takes ROWS:HASH");
        });
}

void add_serve_command(CLI::App& app, subcommands& c) {
    auto* srv = c.add(&app, "serve", "Serve the node over mutual TLS", run_serve);
    c.data(srv);
    serve_options_of(*srv, c.o());
}

} // namespace

int main(int argc, char** argv) {
    ::umask(077); // keys, hashes and audit are for the node alone
    auto parent = ::getppid();
    CLI::App app{"hsmd: one HSM node of an hsmsh cluster"};
    app.require_subcommand(1);
    app.set_version_flag("--version", std::string(version()));
    options o;
    subcommands commands(o);
    add_cluster_commands(app, commands);
    add_client_commands(app, commands);
    add_audit_commands(app, commands);
    add_serve_command(app, commands);
    o.serve.parent = parent;

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        // --help and --version exit 0; every usage error exits 2.
        return app.exit(e) == 0 ? 0 : 2;
    }
    // One boundary for every subcommand: a refusal is one line and exit 1.
    try {
        return commands.run_parsed();
    } catch (const std::exception& e) {
        // Under systemd the journal reads the priority from the line.
        fmt::print(stderr, "{}hsmd: {}\n", stderr_is_journal() ? "<3>" : "", e.what());
        return 1;
    }
}
