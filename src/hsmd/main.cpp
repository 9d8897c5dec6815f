// SPDX-License-Identifier: Apache-2.0
// hsmd: one HSM node. Parses options and runs the chosen subcommand.
#include "client_credentials.hpp"
#include "node_data.hpp"
#include "serve.hpp"

#include "hsmsh/files.hpp"
#include "hsmsh/pki.hpp"

#include <iostream>

#include <CLI/CLI.hpp>

#include <sys/stat.h>

namespace {

using namespace hsm;

int print_state(const std::string& state, const std::string& message) {
    std::cout << json{{"State", state}, {"StateMessage", message}}.dump() << '\n';
    return 0;
}

int run_initialize(const node_paths& paths, const std::string& cluster_id, const std::string& cert,
                   const std::string& anchor, std::uint32_t iterations) {
    std::string before = "UNINITIALIZED";
    try {
        before = node_state(paths);
        initialize_cluster(paths, cluster_id, cert, anchor, iterations);
        return print_state("INITIALIZED", "Cluster initialized: log in as PRECO admin");
    } catch (const std::exception& e) {
        print_state(before, e.what());
        return 1;
    }
}

} // namespace

int main(int argc, char** argv) {
    ::umask(077); // keys, hashes and audit are for the node alone
    CLI::App app{"hsmd: one HSM node of an hsmsh cluster"};
    app.require_subcommand(1);
    std::string data, cluster_id, signed_cert, trust_anchor, from;
    std::uint32_t iterations = default_kdf_iterations;
    serve_options serve_opts;

    auto* create = app.add_subcommand("create-cluster", "Create a node: key pair and CSR");
    create->add_option("--data", data, "Data directory")->required();
    create->add_option("--cluster-id", cluster_id, "Cluster id")->required();

    auto* init = app.add_subcommand("initialize-cluster", "Claim the cluster with a signed cert");
    init->add_option("--data", data, "Data directory")->required();
    init->add_option("--cluster-id", cluster_id, "Cluster id")->required();
    init->add_option("--signed-cert", signed_cert, "Cluster certificate (PEM)")->required();
    init->add_option("--trust-anchor", trust_anchor, "Issuing CA certificate (PEM)")->required();
    init->add_option("--kdf-iterations", iterations, "PBKDF2 iterations for admin")
        ->check(CLI::Range(min_kdf_iterations, max_kdf_iterations));

    auto* describe = app.add_subcommand("describe", "Print the node's ids, state, CSR, peers");
    describe->add_option("--data", data, "Data directory")->required();

    auto* clone = app.add_subcommand("clone", "Create a new node of the same cluster");
    clone->add_option("--from", from, "Source data directory")->required();
    clone->add_option("--data", data, "New data directory")->required();

    std::string cert_file, anchor_file, fingerprint;
    auto* reg = app.add_subcommand("register-client-certificate",
                                   "Pin a client certificate, or register a client CA");
    reg->add_option("--data", data, "Data directory")->required();
    auto* reg_cert = reg->add_option("--cert", cert_file, "Client certificate to pin (PEM)");
    auto* reg_anchor =
        reg->add_option("--trust-anchor", anchor_file, "Client CA certificate (PEM), at most 2");
    reg_cert->excludes(reg_anchor);

    auto* list_clients =
        app.add_subcommand("list-client-certificates", "List pinned certificates and client CAs");
    list_clients->add_option("--data", data, "Data directory")->required();

    auto* remove_client =
        app.add_subcommand("remove-client-certificate", "Remove a pinned certificate or client CA");
    remove_client->add_option("--data", data, "Data directory")->required();
    remove_client->add_option("--fingerprint", fingerprint, "SHA256:... as listed")->required();

    auto* audit = app.add_subcommand("audit", "Work with the audit trail");
    auto* audit_verify = audit->add_subcommand("verify", "Check the audit trail's hash chain");
    audit_verify->add_option("--data", data, "Data directory")->required();
    std::string expected_head;
    audit_verify
        ->add_option("--head", expected_head,
                     "ROWS:HASH printed by an earlier verify or getHSMInfo; the trail must "
                     "still hold that row, unchanged")
        ->check([](const std::string& v) {
            return parse_audit_head(v) ? std::string() : std::string("--head takes ROWS:HASH");
        });
    audit->require_subcommand(1);

    auto* srv = app.add_subcommand("serve", "Serve the node over mutual TLS");
    srv->add_option("--data", data, "Data directory")->required();
    srv->add_option("--listen", serve_opts.listen, "ADDR:PORT (port 0: any free port)");
    srv->add_option("--peer", serve_opts.peers, "HOST:PORT of another node of the cluster");
    srv->add_option("--kdf-iterations", serve_opts.kdf_iterations, "PBKDF2 iterations")
        ->check(CLI::Range(min_kdf_iterations, max_kdf_iterations));
    double handshake_timeout = 3, frame_timeout = 10, idle_timeout = 600;
    srv->add_option("--handshake-timeout", handshake_timeout, "Seconds for a TLS handshake")
        ->check(CLI::Range(0.1, 3600.0));
    srv->add_option("--frame-timeout", frame_timeout, "Seconds for a frame's body to arrive")
        ->check(CLI::Range(0.1, 3600.0));
    srv->add_option("--idle-timeout", idle_timeout, "Seconds a connection may stay idle")
        ->check(CLI::Range(0.1, 86400.0));
    double prepare_timeout = 60;
    srv->add_option("--prepare-timeout", prepare_timeout,
                    "Seconds a prepared change waits for its commit (default 60)")
        ->check(CLI::Range(0.5, 86400.0));
    srv->add_option("--max-connections", serve_opts.limits.max_connections,
                    "Connections that finished the TLS handshake (default 32)")
        ->check(CLI::Range(1, 4096));
    srv->add_option("--max-pending", serve_opts.limits.max_pending,
                    "Connections still in the TLS handshake (default 64)")
        ->check(CLI::Range(1, 4096));
    srv->add_option("--max-pending-per-address", serve_opts.limits.max_pending_per_address,
                    "Of those, from one address (default 8)")
        ->check(CLI::Range(1, 4096));

    CLI11_PARSE(app, argc, argv);
    try {
        if (*create) {
            create_cluster({data}, cluster_id);
            std::cout << describe_node({data}).dump(2) << '\n';
        } else if (*init) {
            return run_initialize({data}, cluster_id, signed_cert, trust_anchor, iterations);
        } else if (*describe) {
            std::cout << describe_node({data}).dump(2) << '\n';
        } else if (*clone) {
            clone_node({from}, {data});
            std::cout << describe_node({data}).dump(2) << '\n';
        } else if (*reg) {
            if (cert_file.empty() == anchor_file.empty()) {
                std::cerr << "hsmd: give --cert or --trust-anchor\n";
                return 2;
            }
            auto store = open_store({data});
            bool anchor = !anchor_file.empty();
            auto c = register_client_credential(
                store, read_file(anchor ? anchor_file : cert_file, max_pem_characters * 4), anchor);
            std::cout << json{{"Fingerprint", c.fingerprint},
                              {"Kind", c.kind},
                              {"Subject", c.subject}}
                             .dump()
                      << "\nTakes effect when the node next starts.\n";
        } else if (*list_clients) {
            auto store = open_store({data});
            for (const auto& c : list_client_credentials(store))
                std::cout << c.kind << ' ' << c.fingerprint << ' ' << c.subject << '\n';
        } else if (*remove_client) {
            auto store = open_store({data});
            if (!remove_client_credential(store, fingerprint)) {
                std::cerr << "hsmd: no client certificate " << fingerprint << '\n';
                return 1;
            }
        } else if (*audit_verify) {
            auto store = open_store({data});
            std::size_t rows = 0;
            if (auto bad = store.verify_audit(rows)) {
                std::cout << "audit trail broken at row " << *bad << " (" << rows
                          << " rows before it are intact): it was altered there or before\n";
                return 1;
            }
            auto head = store.head();
            if (!expected_head.empty()) {
                auto expected = *parse_audit_head(expected_head);
                if (!store.holds_audit_row(expected)) {
                    std::cout << "audit trail cut or rewritten: it no longer holds row "
                              << expected.rows << " as recorded (now " << head.rows
                              << " rows, head " << head.rows << ':' << head.hash << ")\n";
                    return 1;
                }
            }
            std::cout << "audit trail intact: " << rows << " rows, head " << head.rows << ':'
                      << head.hash << '\n';
        } else if (*srv) {
            serve_opts.paths = {data};
            auto seconds = [](double s) {
                return std::chrono::duration_cast<duration>(std::chrono::duration<double>(s));
            };
            serve_opts.limits.handshake_timeout = seconds(handshake_timeout);
            serve_opts.limits.frame_timeout = seconds(frame_timeout);
            serve_opts.limits.idle_timeout = seconds(idle_timeout);
            serve_opts.prepare_timeout =
                std::chrono::milliseconds(static_cast<std::int64_t>(prepare_timeout * 1000));
            return serve(serve_opts);
        }
    } catch (const std::exception& e) {
        std::cerr << "hsmd: " << e.what() << '\n';
        return 1;
    }
    return 0;
}
