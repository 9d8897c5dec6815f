// SPDX-License-Identifier: Apache-2.0
// hsmsh: the shell. Parses options and runs the shell or a set-up subcommand.
#include "demo.hpp"
#include "session.hpp"
#include "terminal_input.hpp"

#include <iostream>
#include <map>

#include <CLI/CLI.hpp>
#include <sys/stat.h>

int main(int argc, char** argv) {
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

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        int rc = app.exit(e);
        return rc == 0 ? 0 : exit_usage;
    }
    opts.config = config;
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
