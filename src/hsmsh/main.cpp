// SPDX-License-Identifier: Apache-2.0
// hsmsh: the shell. Parses options and runs the shell or a set-up subcommand.
#include "configure.hpp"
#include "demo.hpp"
#include "hsmsh/process.hpp"
#include "session.hpp"
#include "terminal_input.hpp"

#include <iostream>
#include <map>

#include <CLI/CLI.hpp>
#include <sys/stat.h>

int main(int argc, char** argv) {
    hsm::disable_core_dumps(); // the shell holds passwords while it runs
    using namespace hsm;
    ::umask(077); // history, keys and configs are for this user alone
    CLI::App app{"hsmsh: manage the users of a cluster of HSMs"};
    app.require_subcommand(0, 1);
    session_options opts;
    std::string config;
    app.add_option("-c,--config", config, "Configuration file");
    app.add_option("--cluster", opts.cluster, "Cluster id (default: the config's default)");
    app.add_flag("-y,--yes", opts.shell.assume_yes, "Do not ask before critical changes");
    app.add_flag("--json", opts.shell.json, "One JSON object per command");
    app.add_flag("--keep-going", opts.shell.keep_going, "Batch: go on after a failed command");
    app.add_flag("--echo", opts.shell.echo, "Batch: print each command before its output");
    app.add_flag("--allow-partial", opts.shell.allow_partial,
                 "Batch: when a server refuses a change, commit it where it was prepared");
    std::map<std::string, color_mode> colors{{"auto", color_mode::automatic},
                                             {"always", color_mode::always},
                                             {"never", color_mode::never}};
    app.add_option("--color", opts.color, "auto, always or never")
        ->transform(CLI::CheckedTransformer(colors));
    app.add_option("--connect-timeout", opts.connect_timeout, "Seconds per connection")
        ->check(CLI::Range(0.1, 600.0));
    app.add_option("--timeout", opts.request_timeout, "Seconds per request")
        ->check(CLI::Range(0.1, 3600.0));
    app.add_option("-e,--execute", opts.commands, "Run this command (repeatable)");
    app.add_option("-f,--file", opts.script, "Run the commands of this script");

    demo_options demo;
    auto* demo_cmd = app.add_subcommand("demo", "Start a local cluster and open the shell on it");
    demo_cmd->fallthrough();
    demo_cmd->add_option("--nodes", demo.nodes, "Number of nodes (1-28)")->check(CLI::Range(1, 28));
    demo_cmd->add_option("--dir", demo.dir, "Where the cluster lives");
    demo_cmd->add_option("--kdf-iterations", demo.kdf_iterations, "PBKDF2 iterations (tests)")
        ->check(CLI::Range(1000u, 100'000'000u));

    configure_options conf;
    auto* configure = app.add_subcommand("configure", "Point this client at clusters");
    configure->fallthrough();
    configure->add_option("--cmu", conf.cmu,
                          "HOST[:PORT] of a node: write all its cluster's members");
    configure->add_option("--cluster-id", conf.cluster_id,
                          "The cluster's entry (default: default)");
    configure->add_option("--hsm-ca-cert", conf.hsm_ca_cert, "The cluster's trust anchor");
    auto* add = configure->add_subcommand("add-cluster", "Add a cluster to the configuration");
    add->add_option("--cluster-id", conf.cluster_id, "Cluster id")->required();
    add->add_option("--endpoint", conf.endpoint, "HOST[:PORT] of one of its nodes");
    add->add_option("--hsm-ca-cert", conf.hsm_ca_cert, "Its trust anchor (customerCA.crt)");
    auto* cert_opt = add->add_option("--server-client-cert-file", conf.client_cert,
                                     "Client certificate for mutual TLS");
    auto* key_opt = add->add_option("--server-client-key-file", conf.client_key, "Its private key");
    cert_opt->needs(key_opt);
    key_opt->needs(cert_opt);
    auto* remove = configure->add_subcommand("remove-cluster", "Remove a cluster");
    remove->add_option("--cluster-id", conf.cluster_id, "Cluster id")->required();
    configure->require_subcommand(0, 1);

    std::string identifier;
    std::vector<std::string> tags;
    auto* create_cert = app.add_subcommand("create-hsm-client-certificate",
                                           "Make a client key pair and certificate to register");
    create_cert->add_option("--hsm-client-certificate-identifier", identifier, "Its name")
        ->required();
    create_cert->add_option("--tags", tags, "Key=K,Value=V ...");

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        int rc = app.exit(e);
        return rc == 0 ? 0 : exit_usage;
    }
    opts.config = config;
    auto config_path = config.empty() ? default_config_path() : fs::path(config);
    if (*configure) {
        conf.config = config_path;
        if (*add) return add_cluster(conf, std::cout, std::cerr);
        if (*remove) return remove_cluster(conf, std::cout, std::cerr);
        if (conf.cmu.empty()) {
            std::cerr << "hsmsh configure: give --cmu HOST[:PORT], add-cluster or remove-cluster\n";
            return exit_usage;
        }
        return configure_cmu(conf, std::cout, std::cerr);
    }
    if (*create_cert)
        return create_client_certificate(config_path, identifier, tags, std::cout, std::cerr);
    install_interrupt_handler();
    if (*demo_cmd) {
        try {
            demo_cluster cluster(demo, std::cout);
            std::cout << "\nFirst time? Activate the cluster:\n"
                         "  loginHSM PRECO admin password\n"
                         "  changePswd PRECO admin -hpswd\n\n";
            opts.config = cluster.config_path();
            return run_session(opts);
        } catch (const std::exception& e) {
            std::cerr << "hsmsh demo: " << e.what() << '\n';
            return exit_connection;
        }
    }
    return run_session(opts);
}
