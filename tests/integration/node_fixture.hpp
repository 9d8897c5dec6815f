// SPDX-License-Identifier: Apache-2.0
// A throwaway PKI and real hsmd processes on 127.0.0.1 for integration tests.
#pragma once

#include "hsmsh/client/client.hpp"
#include "hsmsh/files.hpp"
#include "hsmsh/pki.hpp"
#include "hsmsh/process.hpp"
#include "hsmsh/tls.hpp"

#include <cstdlib>
#include <filesystem>
#include <future>
#include <memory>

#include <doctest/doctest.h>

namespace hsm::test {

namespace fs = std::filesystem;

inline fs::path hsmd_path() {
    const char* p = std::getenv("HSMD");
    REQUIRE_MESSAGE(p, "set HSMD to the hsmd binary");
    return p;
}

/// A temporary directory removed at the end of the test.
struct temp_dir {
    fs::path path;
    temp_dir() {
        std::string tmpl = (fs::temp_directory_path() / "hsmsh-it-XXXXXX").string();
        REQUIRE(::mkdtemp(tmpl.data()));
        path = tmpl;
    }
    ~temp_dir() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
};

/// A CA that can issue certificates.
struct test_ca {
    pkey_ptr key = generate_key();
    x509_ptr cert;
    explicit test_ca(std::string_view name) : cert(make_ca_certificate(key.get(), name, 30)) {}
    std::string pem() const { return cert_to_pem(cert.get()); }
    std::string issue(X509_REQ* csr, cert_usage usage) const {
        return cert_to_pem(issue_certificate(csr, cert.get(), key.get(), usage, 30).get());
    }
    /// A new client identity (key and certificate) issued by this CA.
    tls_identity client(std::string_view trust_pem) const {
        auto k = generate_key();
        auto csr = make_csr(k.get(), "test client");
        return {issue(csr.get(), cert_usage::client),
                key_to_pem(k.get()),
                {std::string(trust_pem)},
                {},
                {}};
    }
};

inline command_result hsmd(std::vector<std::string> args) {
    args.insert(args.begin(), hsmd_path().string());
    return run_command(args);
}

/// One initialised node's data directory, claimed with a certificate from `ca`.
inline void make_node(const fs::path& data, const std::string& cluster_id, const test_ca& ca) {
    REQUIRE(hsmd({"create-cluster", "--data", data.string(), "--cluster-id", cluster_id}).status ==
            0);
    auto csr = csr_from_pem(read_file(data / "cluster.csr", 65536));
    write_file_atomic(data.parent_path() / "signed.crt",
                      ca.issue(csr.get(), cert_usage::server_and_client), 0644);
    write_file_atomic(data.parent_path() / "anchor.crt", ca.pem(), 0644);
    auto r = hsmd({"initialize-cluster", "--data", data.string(), "--cluster-id", cluster_id,
                   "--signed-cert", (data.parent_path() / "signed.crt").string(), "--trust-anchor",
                   (data.parent_path() / "anchor.crt").string(), "--kdf-iterations", "1000"});
    REQUIRE_MESSAGE(r.status == 0, r.output);
}

/// A running `hsmd serve`.
struct running_node {
    std::unique_ptr<child_process> process;
    std::uint16_t port = 0;

    running_node(const fs::path& data,
                 std::vector<std::string> extra = {"--kdf-iterations", "1000"}) {
        std::vector<std::string> argv{hsmd_path().string(), "serve",    "--data",
                                      data.string(),        "--listen", "127.0.0.1:0"};
        argv.insert(argv.end(), extra.begin(), extra.end());
        process = std::make_unique<child_process>(argv, data.parent_path() / "node.log");
        auto line = process->read_line(std::chrono::seconds(20));
        REQUIRE_MESSAGE(line, "hsmd serve did not print its address");
        port = static_cast<std::uint16_t>(std::stoi(line->substr(line->rfind(':') + 1)));
    }
};

/// A blocking wrapper over node_client for tests.
struct sync_client {
    asio::io_context io;
    ssl::context context;
    node_client client;

    explicit sync_client(const tls_identity& id)
        : context(make_client_context(id)), client(io.get_executor(), context) {}

    template <typename T> T run(awaitable<T> op) {
        auto f = asio::co_spawn(io, std::move(op), asio::use_future);
        io.restart();
        io.run();
        return f.get();
    }
    node_hello connect(std::uint16_t port, const std::string& cluster_id) {
        return run(client.connect("127.0.0.1", port, cluster_id, std::chrono::seconds(5)));
    }
    reply call(operation op, json fields = json::object()) {
        return run(client.call(op, std::move(fields), std::chrono::seconds(10)));
    }
    status code(operation op, json fields = json::object()) {
        return call(op, std::move(fields)).code;
    }
    status user_op(operation op, std::string_view type, std::string_view name,
                   std::optional<std::string_view> password = std::nullopt) {
        json f{{"type", type}, {"name", name}};
        if (password) f["password"] = *password;
        return code(op, std::move(f));
    }
};

} // namespace hsm::test
