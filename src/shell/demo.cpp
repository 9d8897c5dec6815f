// SPDX-License-Identifier: Apache-2.0
// `hsmsh demo`: a real local cluster built with the real commands.
#include "demo.hpp"

#include "hsmsh/endpoint.hpp"
#include "hsmsh/files.hpp"
#include "hsmsh/pki.hpp"
#include "hsmsh/process.hpp"

#include <cstdlib>

#include <fmt/format.h>
#include <fmt/ostream.h>

namespace hsm {
namespace {

constexpr std::string_view default_cluster_id = "cluster-demo";
constexpr std::size_t max_pem = 64 * 1024;

fs::path node_dir(const fs::path& dir, std::size_t i) {
    return dir / fmt::format("node{}", i);
}

void run_hsmd(const fs::path& hsmd, std::vector<std::string> args) {
    args.insert(args.begin(), hsmd.string());
    auto r = run_command(args);
    if (r.status != 0)
        throw process_error(
            fmt::format("{} failed ({}): {}", fmt::join(args, " "), r.status, r.output));
}

// The customer's side of the claim: a CA that signs the cluster's CSR.
void sign_cluster_csr(const fs::path& dir, const fs::path& node0) {
    auto ca_key = generate_key();
    auto ca = make_ca_certificate(ca_key.get(), "hsmsh demo customer CA", 3650);
    write_file_atomic(dir / "customerCA.key", key_to_pem(ca_key.get()), 0600);
    write_file_atomic(dir / "customerCA.crt", cert_to_pem(ca.get()), 0644);
    auto csr = csr_from_pem(read_file(node0 / "cluster.csr", max_pem));
    // Server and client: nodes also use it to ask their peers about changes in doubt.
    auto cert =
        issue_certificate(csr.get(), ca.get(), ca_key.get(), cert_usage::server_and_client, 3650);
    write_file_atomic(dir / "cluster.crt", cert_to_pem(cert.get()), 0644);
}

// Each node's own certificate (its node.csr, signed by the CA): only that
// node's word then moves its entry in its peers' lists.
void certify_node(const fs::path& hsmd, const fs::path& dir, const fs::path& node) {
    auto ca_key = key_from_pem(read_file(dir / "customerCA.key", max_pem));
    auto ca = cert_from_pem(read_file(dir / "customerCA.crt", max_pem));
    auto csr = csr_from_pem(read_file(node / "node.csr", max_pem));
    auto cert =
        issue_certificate(csr.get(), ca.get(), ca_key.get(), cert_usage::server_and_client, 3650);
    write_file_atomic(node / "signed-node.crt", cert_to_pem(cert.get()), 0644);
    run_hsmd(hsmd, {"install-node-certificate", "--data", node.string(), "--signed-cert",
                    (node / "signed-node.crt").string()});
}

void make_client_certificate(const fs::path& dir) {
    auto ca_key = key_from_pem(read_file(dir / "customerCA.key", max_pem));
    auto ca = cert_from_pem(read_file(dir / "customerCA.crt", max_pem));
    auto key = generate_key();
    auto csr = make_csr(key.get(), "hsmsh demo client");
    auto cert = issue_certificate(csr.get(), ca.get(), ca_key.get(), cert_usage::client, 3650);
    write_file_atomic(dir / "client.key", key_to_pem(key.get()), 0600);
    write_file_atomic(dir / "client.crt", cert_to_pem(cert.get()), 0644);
}

std::string env(const char* name) {
    const char* v = std::getenv(name);
    return v ? v : "";
}

} // namespace

fs::path default_demo_dir() {
    if (auto state = env("XDG_STATE_HOME"); !state.empty())
        return fs::path(state) / "hsmsh" / "demo";
    if (auto home = env("HOME"); !home.empty())
        return fs::path(home) / ".local" / "state" / "hsmsh" / "demo";
    return fs::temp_directory_path() / "hsmsh-demo";
}

fs::path find_hsmd() {
    if (auto p = env("HSMD"); !p.empty()) return p;
    std::error_code ec;
    auto self = fs::read_symlink("/proc/self/exe", ec).parent_path();
    for (auto candidate :
         {self / "hsmd", self / ".." / "hsmd" / "hsmd", self / ".." / "sbin" / "hsmd"})
        if (fs::exists(candidate, ec)) return fs::weakly_canonical(candidate, ec);
    for (auto candidate : {"/usr/local/sbin/hsmd", "/usr/sbin/hsmd"})
        if (fs::exists(candidate, ec)) return candidate;
    throw process_error("cannot find hsmd: set HSMD to its path");
}

demo_cluster::demo_cluster(const demo_options& options, std::ostream& out, std::ostream& err)
    // Absolute: the configuration it writes names its files by this
    // directory, and hsmsh.json(5) reads relative paths relative to the file.
    : dir_(fs::absolute(options.dir.empty() ? default_demo_dir() : options.dir)),
      config_path_(dir_ / "hsmsh.json"), hsmd_(options.hsmd.empty() ? find_hsmd() : options.hsmd) {
    if (options.nodes < 1 || options.nodes > 28)
        throw process_error("--nodes takes 1 to 28 (CloudHSM's cluster maximum)");
    cluster_id_ = options.cluster_id.empty() ? std::string(default_cluster_id) : options.cluster_id;
    if (!fs::exists(node_dir(dir_, 0) / "hsm.db")) {
        build(options, out);
    } else {
        auto built = built_cluster_id();
        if (!options.cluster_id.empty() && options.cluster_id != built)
            throw process_error(fmt::format("{} holds cluster '{}', not '{}': give another cluster "
                                            "its own --dir",
                                            dir_.string(), built, options.cluster_id));
        cluster_id_ = built;
        fmt::print(out, "Reusing the demo cluster {} in {}\n", cluster_id_, dir_.string());
    }
    start(options);
    signals_blocked during_start; // Ctrl-C interrupts the shell's read, never this thread
    watcher_ = std::jthread([this, &err](std::stop_token stop) { watch(stop, err); });
}

void demo_cluster::watch(std::stop_token stop, std::ostream& err) {
    std::vector<bool> reported(nodes_.size());
    while (!stop.stop_requested()) {
        for (std::size_t i = 0; i < nodes_.size(); ++i) {
            if (reported[i]) continue;
            auto status = nodes_[i].wait(std::chrono::milliseconds(0));
            if (!status) continue;
            reported[i] = true;
            fmt::print(err,
                       "\nhsmsh demo: node{} stopped (exit status {}); its log is {}. Leave "
                       "with quit and run hsmsh demo again to restart the cluster.\n",
                       i, *status, (dir_ / fmt::format("node{}.log", i)).string());
            err.flush();
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
}

std::string demo_cluster::built_cluster_id() const {
    try {
        return load_config(config_path_).default_cluster;
    } catch (const config_error&) {
        return std::string(default_cluster_id); // no configuration written yet
    }
}

void demo_cluster::build(const demo_options& options, std::ostream& out) {
    fmt::print(out, "Building a demo cluster of {} nodes in {}\n", options.nodes, dir_.string());
    fs::create_directories(dir_);
    fs::permissions(dir_, fs::perms::owner_all, fs::perm_options::replace);
    auto node0 = node_dir(dir_, 0);
    run_hsmd(hsmd_, {"create-cluster", "--data", node0.string(), "--cluster-id", cluster_id_});
    sign_cluster_csr(dir_, node0);
    std::vector<std::string> init{"initialize-cluster",
                                  "--data",
                                  node0.string(),
                                  "--cluster-id",
                                  cluster_id_,
                                  "--signed-cert",
                                  (dir_ / "cluster.crt").string(),
                                  "--trust-anchor",
                                  (dir_ / "customerCA.crt").string()};
    if (options.kdf_iterations)
        init.insert(init.end(), {"--kdf-iterations", std::to_string(options.kdf_iterations)});
    run_hsmd(hsmd_, init);
    for (std::size_t i = 1; i < options.nodes; ++i)
        run_hsmd(hsmd_, {"clone", "--from", node0.string(), "--data", node_dir(dir_, i).string()});
    for (std::size_t i = 0; i < options.nodes; ++i)
        certify_node(hsmd_, dir_, node_dir(dir_, i));
    make_client_certificate(dir_);
    fmt::print(out,
               "  customer CA      {}\n  cluster          {} (claimed with a certificate "
               "signed by that CA)\n  nodes            {} (node0 and its clones)\n"
               "  client identity  {}\n",
               (dir_ / "customerCA.crt").string(), cluster_id_, options.nodes,
               (dir_ / "client.crt").string());
}

void demo_cluster::start(const demo_options& options) {
    std::size_t count = 0;
    while (fs::exists(node_dir(dir_, count) / "hsm.db"))
        ++count;
    cluster_config cluster{
        cluster_id_, dir_ / "customerCA.crt", dir_ / "client.crt", dir_ / "client.key", {}};
    for (std::size_t i = 0; i < count; ++i) {
        std::vector<std::string> argv{hsmd_.string(),
                                      "serve",
                                      "--data",
                                      node_dir(dir_, i).string(),
                                      "--listen",
                                      "127.0.0.1:0",
                                      "--stop-with-parent"};
        if (options.kdf_iterations)
            argv.insert(argv.end(), {"--kdf-iterations", std::to_string(options.kdf_iterations)});
        // Each later node names the first; the nodes tell each other the
        // rest, so that discovery from any node finds the whole cluster.
        if (!cluster.servers.empty())
            argv.insert(argv.end(), {"--peer", cluster.servers.front().name});
        nodes_.emplace_back(argv, dir_ / fmt::format("node{}.log", i));
        auto address = nodes_.back().read_line(std::chrono::seconds(30));
        if (!address)
            throw process_error(fmt::format("node{} did not start: see {}", i,
                                            (dir_ / fmt::format("node{}.log", i)).string()));
        auto hp = parse_host_port(*address, std::nullopt);
        cluster.servers.push_back({hp.text(), hp.host, hp.port});
    }
    // The shell pins the cluster's certificate: no other certificate the
    // demo's CA issued passes as one of its nodes.
    if (count > 0)
        cluster.cluster_cert = fingerprint(
            cert_from_pem(read_file(node_dir(dir_, 0) / "cluster.crt", 64 * 1024)).get());
    client_config config{config_path_, cluster_id_, {cluster}};
    save_config(config);
}

} // namespace hsm
