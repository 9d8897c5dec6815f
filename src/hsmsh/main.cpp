// SPDX-License-Identifier: Apache-2.0
// hsmsh: the shell. Parses options and runs the shell or a set-up
// subcommand, each in a function of its own.
#include "configure.hpp"
#include "demo.hpp"
#include "hsmsh/process.hpp"
#include "hsmsh/version.hpp"
#include "session.hpp"
#include "terminal_input.hpp"
#include "token_view.hpp"

#include <algorithm>
#include <iostream>
#include <map>

#include <CLI/CLI.hpp>
#include <sys/stat.h>

namespace {

using namespace hsm;

// What the options fill in; one instance, read by what runs.
struct options {
    session_options session;
    std::string config;
    std::string config_positional;
    demo_options demo;
    configure_options configure;
    std::string identifier;
    std::vector<std::string> tags;
    std::string token_file;

    fs::path config_path() const {
        return config.empty() ? default_config_path() : fs::path(config);
    }

    // A new client key pair goes beside this user's configuration (or the
    // one -c names), never into /etc/hsmsh unasked, root's included.
    fs::path certificate_config_path() const {
        auto user = user_config_path();
        return !config.empty() || user.empty() ? config_path() : user;
    }
};

// The subcommands, once parsed: the one that ran is the one that is set.
struct subcommands {
    CLI::App* demo = nullptr;
    CLI::App* configure = nullptr;
    CLI::App* add_cluster = nullptr;
    CLI::App* remove_cluster = nullptr;
    CLI::App* create_certificate = nullptr;
    CLI::App* show_token = nullptr;
};

// What invoking hsmsh as cloudhsm_mgmt_util (or with --cmu-compat) changes.
void cmu_mode(shell_options& shell) {
    shell.cmu_mode = true;
    shell.confirmations = confirmation_set::cmu;
}

bool invoked_as(const char* argv0, std::string_view name) {
    return argv0 && fs::path(argv0).filename() == name;
}

bool invoked_as_cmu(const char* argv0) {
    return invoked_as(argv0, "cloudhsm_mgmt_util");
}

void add_shell_options(CLI::App& app, options& o) {
    auto& s = o.session;
    app.add_option("-c,--config", o.config, "Configuration file");
    // CMU's form: the configuration file as the one argument.
    app.add_option("config-file", o.config_positional, "Configuration file (as CMU takes it)");
    app.add_option("--cluster", s.cluster, "Cluster id (default: the config's default)");
    app.add_flag("-y,--yes", s.shell.assume_yes, "Do not ask before critical changes");
    app.add_flag("--json", s.shell.json, "One JSON object per command");
    app.add_flag("--keep-going", s.shell.keep_going, "Batch: go on after a failed command");
    app.add_flag("--echo", s.shell.echo, "Batch: print each command before its output");
    app.add_flag("-q,--quiet", s.shell.quiet, "No connection lines (failures still show)");
    app.add_flag("--allow-partial", s.shell.allow_partial,
                 "Batch: when a server refuses a change, commit it where it was prepared");
    app.add_flag_function(
        "--cmu-compat", [&s](std::int64_t) { cmu_mode(s.shell); },
        "CMU mode: CMU's prompt, texts and confirmations (as cloudhsm_mgmt_util)");
    std::map<std::string, color_mode> colors{{"auto", color_mode::automatic},
                                             {"always", color_mode::always},
                                             {"never", color_mode::never}};
    app.add_option("--color", s.color, "When to color the results")
        ->transform(CLI::CheckedTransformer(colors).description(""))
        ->option_text("auto|always|never");
    app.add_option("--connect-timeout", s.connect_timeout, "Seconds per connection")
        ->check(CLI::Range(0.1, 600.0));
    app.add_option("--timeout", s.request_timeout, "Seconds per request")
        ->check(CLI::Range(0.1, 3600.0));
    app.add_option("-e,--execute", s.commands, "Run this command (repeatable)");
    app.add_option("-f,--file", s.script, "Run the commands of this script");
    app.add_option("--password-fd", s.password_fd,
                   "Read the passwords that -hpswd asks for from this file descriptor")
        ->check(CLI::Range(0, 1 << 20));
}

CLI::App* demo_command(CLI::App& app, demo_options& demo) {
    auto* cmd = app.add_subcommand("demo", "Start a local cluster and open the shell on it");
    cmd->fallthrough();
    cmd->add_option("--nodes", demo.nodes, "Number of nodes (1-28)")->check(CLI::Range(1, 28));
    cmd->add_option("--dir", demo.dir, "Where the cluster lives");
    cmd->add_option("--cluster-id", demo.cluster_id,
                    "Its cluster id (default cluster-demo): two demos, two slots");
    cmd->add_option("--kdf-iterations", demo.kdf_iterations, "PBKDF2 iterations (tests)")
        ->check(CLI::Range(1000u, 100'000'000u));
    return cmd;
}

void configure_commands(CLI::App& app, configure_options& conf, subcommands& subs) {
    auto* configure = app.add_subcommand("configure", "Point this client at clusters");
    configure->fallthrough();
    configure->add_option("--cmu", conf.cmu,
                          "HOST[:PORT] of a node: write all its cluster's members");
    configure->add_option("--cluster-id", conf.cluster_id,
                          "The cluster's entry (default: default)");
    configure->add_flag("--prune", conf.prune,
                        "With --cmu: drop configured servers the node does not name");
    configure->add_option("--hsm-ca-cert", conf.hsm_ca_cert, "The cluster's trust anchor");
    // With --cmu on a machine without the cluster's entry: the entry's files.
    configure->add_option("--server-client-cert-file", conf.client_cert,
                          "With --cmu, a new entry: client certificate for mutual TLS");
    configure->add_option("--server-client-key-file", conf.client_key,
                          "With --cmu, a new entry: its private key");
    auto* add = configure->add_subcommand("add-cluster", "Add a cluster to the configuration");
    add->add_option("--cluster-id", conf.cluster_id, "Cluster id")->required();
    add->add_option("--endpoint", conf.endpoint, "HOST[:PORT] of one of its nodes");
    add->add_option("--hsm-ca-cert", conf.hsm_ca_cert, "Its trust anchor (customerCA.crt)");
    // CloudHSM's configure-pkcs11 takes a region for its cloud API; there is none here.
    add->add_option("--region", conf.region, "Accepted for CloudHSM's scripts; unused");
    auto* cert = add->add_option("--server-client-cert-file", conf.client_cert,
                                 "Client certificate for mutual TLS");
    auto* key = add->add_option("--server-client-key-file", conf.client_key, "Its private key");
    cert->needs(key);
    key->needs(cert);
    auto* remove = configure->add_subcommand("remove-cluster", "Remove a cluster");
    remove->add_option("--cluster-id", conf.cluster_id, "Cluster id")->required();
    configure->require_subcommand(0, 1);
    subs.configure = configure;
    subs.add_cluster = add;
    subs.remove_cluster = remove;
}

CLI::App* certificate_command(CLI::App& app, options& o) {
    auto* cmd = app.add_subcommand("create-hsm-client-certificate",
                                   "Make a client key pair and certificate to register");
    cmd->add_option("--hsm-client-certificate-identifier", o.identifier, "Its name")->required();
    cmd->add_option("--tags", o.tags, "Key=K,Value=V ...");
    return cmd;
}

CLI::App* show_token_command(CLI::App& app, options& o) {
    auto* cmd =
        app.add_subcommand("show-token", "Say what a quorum token file asks an approver to sign");
    cmd->add_option("token-file", o.token_file, "The file getToken wrote")->required();
    return cmd;
}

// Offline, for an approver who has the file and nothing else.
int show_token(const std::string& path) {
    try {
        std::cout << describe_token_file(path, read_argument_file(path, 64 * 1024, "token file"));
        return exit_ok;
    } catch (const usage_error& e) {
        std::cerr << "hsmsh show-token: " << e.what() << '\n';
        return exit_failed;
    }
}

int run_configure(options& o, const subcommands& subs) {
    auto& conf = o.configure;
    conf.config = o.config_path();
    if (*subs.add_cluster) return add_cluster(conf, std::cout, std::cerr);
    if (*subs.remove_cluster) return remove_cluster(conf, std::cout, std::cerr);
    if (conf.cmu.empty()) {
        std::cerr << "hsmsh configure: give --cmu HOST[:PORT], add-cluster or remove-cluster\n";
        return exit_usage;
    }
    return configure_cmu(conf, std::cout, std::cerr);
}

int run_demo(options& o) {
    try {
        demo_cluster cluster(o.demo, std::cout, std::cerr);
        std::cout << "\nConfiguration " << cluster.config_path().string()
                  << "\n  (another terminal reaches this cluster while the demo runs: hsmsh -c "
                  << cluster.config_path().string() << ")\nData and node logs "
                  << cluster.config_path().parent_path().string()
                  << " (hsmsh demo --dir DIR starts them again)\n"
                  << "\nFirst time? Activate the cluster:\n"
                     "  loginHSM PRECO admin password\n"
                     "  changePswd PRECO admin -hpswd\n\n";
        o.session.config = cluster.config_path();
        return run_session(o.session);
    } catch (const std::exception& e) {
        std::cerr << "hsmsh demo: " << e.what() << '\n';
        return exit_connection;
    }
}

// The command line as CLI11 takes it: as configure-pkcs11 (CloudHSM's
// name), the program is `hsmsh configure`.
std::vector<std::string> command_line(CLI::App& app, int argc, char** argv) {
    std::vector<std::string> args(argv + 1, argv + argc);
    if (invoked_as(argv[0], "configure-pkcs11")) {
        args.insert(args.begin(), "configure");
        app.name("configure-pkcs11");
    }
    std::reverse(args.begin(), args.end()); // CLI11 takes them last first
    return args;
}

// Runs what the command line chose.
int dispatch(options& o, const subcommands& subs) {
    if (*subs.configure) return run_configure(o, subs);
    if (*subs.create_certificate)
        return create_client_certificate(o.certificate_config_path(), o.identifier, o.tags,
                                         std::cout, std::cerr);
    if (*subs.show_token) return show_token(o.token_file);
    install_interrupt_handler();
    if (*subs.demo) return run_demo(o);
    return run_session(o.session);
}

} // namespace

int main(int argc, char** argv) {
    hsm::disable_core_dumps(); // the shell holds passwords while it runs
    ::umask(077);              // history, keys and configs are for this user alone
    // Before anything is spawned (the demo's nodes): no child inherits it.
    auto environment_password = hsm::take_environment_password();
    CLI::App app{"hsmsh: manage the users of a cluster of HSMs"};
    app.require_subcommand(0, 1);
    app.set_version_flag("--version", std::string(version()));
    options o;
    if (invoked_as_cmu(argv[0])) cmu_mode(o.session.shell);
    subcommands subs;
    add_shell_options(app, o);
    subs.demo = demo_command(app, o.demo);
    configure_commands(app, o.configure, subs);
    subs.create_certificate = certificate_command(app, o);
    subs.show_token = show_token_command(app, o);
    try {
        app.parse(command_line(app, argc, argv));
    } catch (const CLI::ParseError& e) {
        int rc = app.exit(e);
        return rc == 0 ? 0 : exit_usage;
    }
    if (!o.config_positional.empty()) {
        if (!o.config.empty()) {
            std::cerr << "hsmsh: give the configuration file once (-c or as the argument)\n";
            return exit_usage;
        }
        o.config = o.config_positional;
    }
    o.session.config = o.config;
    o.session.shell.login_password = std::move(environment_password);
    return dispatch(o, subs);
}
