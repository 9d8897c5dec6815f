// SPDX-License-Identifier: Apache-2.0
// Real hsmd processes on 127.0.0.1 driven through the client library.
#include "node_fixture.hpp"

#include <csignal>
#include <thread>

using namespace hsm;
using namespace hsm::test;

namespace {

const std::string cluster = "cluster-it";

struct one_node {
    temp_dir dir;
    test_ca ca{"customer CA"};
    fs::path data = dir.path / "node";
    tls_identity client_id;
    std::unique_ptr<running_node> node;

    one_node() {
        make_node(data, cluster, ca);
        client_id = ca.client(ca.pem());
        node = std::make_unique<running_node>(data);
    }
    void restart() {
        node.reset();
        node = std::make_unique<running_node>(data);
    }
    std::unique_ptr<sync_client> connect() {
        auto c = std::make_unique<sync_client>(client_id);
        auto hello = c->connect(node->port, cluster);
        CHECK(hello.cluster_id == cluster);
        return c;
    }
    // Logs in as admin, activates, returns the officer's connection.
    std::unique_ptr<sync_client> officer() {
        auto c = connect();
        REQUIRE(c->user_op(operation::login, "PRECO", "admin", "password") == status::ok);
        REQUIRE(c->user_op(operation::change_password, "PRECO", "admin", "officer-pw1") ==
                status::ok);
        return c;
    }
};

client_failure failure_of(const std::function<void()>& f) {
    try {
        f();
    } catch (const client_error& e) {
        return e.kind;
    }
    FAIL("no client_error");
    return client_failure::closed;
}

} // namespace

TEST_CASE("activation, then create, list, change and delete over mutual TLS") {
    one_node n;
    auto c = n.connect();
    CHECK(c->connect(n.node->port, cluster).state == "INITIALIZED");
    auto co = n.officer();
    CHECK(co->user_op(operation::create_user, "CU", "alice", "alice-pw1") == status::ok);
    CHECK(co->user_op(operation::create_user, "CU", "alice", "alice-pw1") == status::user_exists);
    auto users = co->call(operation::list_users).fields["users"];
    REQUIRE(users.size() == 2);
    CHECK(users[0]["name"] == "admin");
    CHECK(users[0]["type"] == "CO");
    CHECK(users[1]["name"] == "alice");
    CHECK(co->user_op(operation::change_password, "CU", "alice", "alice-pw2") == status::ok);
    auto alice = n.connect();
    CHECK(alice->user_op(operation::login, "CU", "alice", "alice-pw1") ==
          status::user_login_failure);
    CHECK(alice->user_op(operation::login, "CU", "alice", "alice-pw2") == status::ok);
    CHECK(alice->user_op(operation::create_user, "CU", "mallory", "mallory-1") ==
          status::permission_denied);
    CHECK(co->user_op(operation::delete_user, "CU", "alice") == status::user_logged_in);
    CHECK(alice->code(operation::logout) == status::ok);
    CHECK(co->user_op(operation::delete_user, "CU", "alice") == status::ok);
    CHECK(co->call(operation::list_users).fields["users"].size() == 1);
    CHECK(co->call(operation::hsm_info).fields["state"] == "ACTIVE");
}

TEST_CASE("the permission matrix over the wire; a refused change writes nothing") {
    one_node n;
    // PRECO before activation, on this node; then CO and CU after it.
    auto preco = n.connect();
    REQUIRE(preco->user_op(operation::login, "PRECO", "admin", "password") == status::ok);
    auto snapshot = [&] { return n.connect()->call(operation::list_users).fields["users"].dump(); };
    struct row {
        operation op;
        json fields;
        status anonymous, preco_s;
    };
    const json other_user{{"type", "CU"}, {"name", "someone"}, {"password", "someone-pw1"}};
    const json admin_pw{{"type", "CO"}, {"name", "admin"}, {"password", "new-admin-pw1"}};
    std::vector<row> before_activation{
        {operation::create_user, other_user, status::not_logged_in, status::permission_denied},
        {operation::delete_user,
         {{"type", "CU"}, {"name", "someone"}},
         status::not_logged_in,
         status::permission_denied},
        {operation::change_password, admin_pw, status::not_logged_in, status::invalid_user_type},
        {operation::get_user,
         {{"name", "admin"}},
         status::not_logged_in,
         status::permission_denied},
    };
    for (auto& r : before_activation) {
        CAPTURE(operation_name(r.op));
        auto before = snapshot();
        CHECK(n.connect()->code(r.op, r.fields) == r.anonymous);
        CHECK(preco->code(r.op, r.fields) == r.preco_s);
        CHECK(snapshot() == before);
    }
    REQUIRE(preco->user_op(operation::change_password, "PRECO", "admin", "officer-pw1") ==
            status::ok);
    auto co = preco.get();
    REQUIRE(co->user_op(operation::create_user, "CU", "cu_user", "cu-user-pw1") == status::ok);
    REQUIRE(co->user_op(operation::create_user, "CU", "victim", "victim-pw1") == status::ok);
    auto cu = n.connect();
    REQUIRE(cu->user_op(operation::login, "CU", "cu_user", "cu-user-pw1") == status::ok);
    struct after_row {
        operation op;
        json fields;
        status co_s, cu_s;
    };
    std::vector<after_row> after_activation{
        {operation::create_user, other_user, status::ok, status::permission_denied},
        {operation::change_password,
         {{"type", "CU"}, {"name", "victim"}, {"password", "victim-pw2"}},
         status::ok,
         status::permission_denied},
        {operation::get_user, {{"name", "victim"}}, status::ok, status::permission_denied},
        {operation::list_users, json::object(), status::ok, status::ok},
        {operation::hsm_info, json::object(), status::ok, status::ok},
        {operation::delete_user,
         {{"type", "CU"}, {"name", "someone"}},
         status::ok,
         status::permission_denied},
    };
    for (auto& r : after_activation) {
        CAPTURE(operation_name(r.op));
        auto before = snapshot();
        CHECK(cu->code(r.op, r.fields) == r.cu_s);
        CHECK(snapshot() == before); // the refusal changed nothing
        CHECK(co->code(r.op, r.fields) == r.co_s);
    }
    CHECK(cu->code(operation::logout) == status::ok);
    CHECK(cu->code(operation::logout) == status::not_logged_in);
}

TEST_CASE("lock-out survives a restart; a CO reset unlocks") {
    one_node n;
    {
        auto co = n.officer();
        REQUIRE(co->user_op(operation::create_user, "CU", "bob", "bob-pass1") == status::ok);
        auto guess = n.connect();
        for (int i = 0; i < 5; ++i)
            CHECK(guess->user_op(operation::login, "CU", "bob", "wrong-pw1") ==
                  status::user_login_failure);
    }
    n.restart();
    auto bob = n.connect();
    CHECK(bob->user_op(operation::login, "CU", "bob", "bob-pass1") == status::user_login_failure);
    auto co = n.connect();
    REQUIRE(co->user_op(operation::login, "CO", "admin", "officer-pw1") == status::ok);
    auto users = co->call(operation::list_users).fields["users"];
    CHECK(users[1]["failures"] == 5);
    CHECK(co->user_op(operation::change_password, "CU", "bob", "bob-pass2") == status::ok);
    CHECK(bob->user_op(operation::login, "CU", "bob", "bob-pass2") == status::ok);
}

TEST_CASE("clients without a certificate from the cluster's CA are refused") {
    one_node n;
    test_ca rogue("rogue CA");
    sync_client stranger(rogue.client(n.ca.pem()));
    CHECK(failure_of([&] { stranger.connect(n.node->port, cluster); }) ==
          client_failure::client_refused);
    // A node trusted by another anchor is refused by the client.
    sync_client misled(n.ca.client(rogue.pem()));
    CHECK(failure_of([&] { misled.connect(n.node->port, cluster); }) ==
          client_failure::untrusted_server);
    // A node that proves another cluster id is refused too.
    sync_client wrong(n.client_id);
    CHECK(failure_of([&] { wrong.connect(n.node->port, "cluster-other"); }) ==
          client_failure::wrong_cluster);
    // And the node still serves the legitimate client.
    CHECK(n.connect()->code(operation::list_users) == status::ok);
}

TEST_CASE("expired, server-only and TLS 1.2 clients are refused; SSL_CERT_FILE is ignored") {
    one_node n;
    auto client_with = [&](cert_usage usage, int days) {
        auto key = generate_key();
        auto csr = make_csr(key.get(), "odd client");
        return tls_identity{
            cert_to_pem(
                issue_certificate(csr.get(), n.ca.cert.get(), n.ca.key.get(), usage, days).get()),
            key_to_pem(key.get()),
            {n.ca.pem()},
            {},
            {}};
    };
    sync_client expired(client_with(cert_usage::client, -1));
    CHECK(failure_of([&] { expired.connect(n.node->port, cluster); }) ==
          client_failure::client_refused);
    sync_client server_only(client_with(cert_usage::server, 30));
    CHECK(failure_of([&] { server_only.connect(n.node->port, cluster); }) ==
          client_failure::client_refused);

    ssl::context old_tls(ssl::context::tls_client);
    SSL_CTX_set_max_proto_version(old_tls.native_handle(), TLS1_2_VERSION);
    old_tls.add_certificate_authority(asio::buffer(n.ca.pem()));
    old_tls.use_certificate_chain(asio::buffer(n.client_id.certificate));
    old_tls.use_private_key(asio::buffer(n.client_id.private_key), ssl::context::pem);
    asio::io_context io;
    node_client legacy(io.get_executor(), old_tls);
    auto f = asio::co_spawn(
        io, legacy.connect("127.0.0.1", n.node->port, cluster, std::chrono::seconds(5)),
        asio::use_future);
    io.run();
    CHECK_THROWS_AS(f.get(), client_error);

    // A bundle that trusts the node, named by SSL_CERT_FILE, must not make a
    // client with another anchor trust it.
    test_ca rogue("rogue CA");
    write_file_atomic(n.dir.path / "bundle.pem", n.ca.pem(), 0644);
    ::setenv("SSL_CERT_FILE", (n.dir.path / "bundle.pem").c_str(), 1);
    ::setenv("SSL_CERT_DIR", n.dir.path.c_str(), 1);
    sync_client misled(n.ca.client(rogue.pem()));
    auto failure = failure_of([&] { misled.connect(n.node->port, cluster); });
    ::unsetenv("SSL_CERT_FILE");
    ::unsetenv("SSL_CERT_DIR");
    CHECK(failure == client_failure::untrusted_server);
    CHECK(n.connect()->code(operation::list_users) == status::ok);
}

TEST_CASE("a client with no certificate at all is refused") {
    one_node n;
    ssl::context ctx(ssl::context::tls_client);
    SSL_CTX_set_min_proto_version(ctx.native_handle(), TLS1_3_VERSION);
    ctx.add_certificate_authority(asio::buffer(n.ca.pem()));
    ctx.set_verify_mode(ssl::verify_peer);
    asio::io_context io;
    node_client anonymous(io.get_executor(), ctx);
    auto f = asio::co_spawn(
        io, anonymous.connect("127.0.0.1", n.node->port, cluster, std::chrono::seconds(5)),
        asio::use_future);
    io.run();
    try {
        f.get();
        FAIL("connected without a certificate");
    } catch (const client_error& e) {
        CHECK(e.kind == client_failure::client_refused);
    }
}

namespace {
// Sends raw bytes over TLS and reports whether the node hung up.
bool node_hangs_up_after(const one_node& n, const std::string& bytes) {
    asio::io_context io;
    auto ctx = make_client_context(n.client_id);
    std::unique_ptr<tls_stream> stream;
    // A slot may still be held by a connection the node has not yet seen
    // close: try again, a bounded number of times.
    for (int attempt = 0; attempt < 50 && !stream; ++attempt) {
        auto candidate = std::make_unique<tls_stream>(io, ctx);
        try {
            candidate->next_layer().connect({asio::ip::make_address("127.0.0.1"), n.node->port});
            candidate->handshake(ssl::stream_base::client);
            stream = std::move(candidate);
        } catch (const boost::system::system_error&) {
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
    }
    REQUIRE(stream);
    auto& s = *stream;
    timeval tv{10, 0};
    setsockopt(s.next_layer().native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (!bytes.empty()) asio::write(s, asio::buffer(bytes));
    char buf[16];
    boost::system::error_code ec;
    s.read_some(asio::buffer(buf), ec);
    return ec == asio::error::eof || ec == ssl::error::stream_truncated ||
           ec == asio::error::connection_reset;
}
} // namespace

TEST_CASE("oversize and garbage frames are answered by disconnection; others keep working") {
    one_node n;
    auto bystander = n.connect();
    CHECK(node_hangs_up_after(n, std::string("\xff\xff\xff\xff", 4)));
    CHECK(node_hangs_up_after(n, std::string("\x00\x00\x00\x00", 4)));
    CHECK(node_hangs_up_after(n, std::string("\x00\x00\x00\x05hello", 9)));
    CHECK(node_hangs_up_after(n, std::string("\x00\x00\x00\x02{}", 6)));
    CHECK(bystander->code(operation::list_users) == status::ok);
}

TEST_CASE("concurrent guesses count exactly five failures, then the account is locked") {
    one_node n;
    {
        auto co = n.officer();
        REQUIRE(co->user_op(operation::create_user, "CU", "target", "target-pw1") == status::ok);
    }
    asio::io_context io;
    auto ctx = make_client_context(n.client_id);
    std::vector<std::unique_ptr<node_client>> clients;
    std::vector<std::future<reply>> answers;
    for (int i = 0; i < 8; ++i)
        clients.push_back(std::make_unique<node_client>(io.get_executor(), ctx));
    auto guess = [&](node_client& c) -> awaitable<reply> {
        co_await c.connect("127.0.0.1", n.node->port, cluster, std::chrono::seconds(5));
        json f{{"type", "CU"}, {"name", "target"}, {"password", "wrong-pw-1"}};
        co_return co_await c.call(operation::login, std::move(f), std::chrono::seconds(10));
    };
    for (auto& c : clients)
        answers.push_back(asio::co_spawn(io, guess(*c), asio::use_future));
    io.run();
    for (auto& a : answers)
        CHECK(a.get().code == status::user_login_failure);
    auto co = n.connect();
    REQUIRE(co->user_op(operation::login, "CO", "admin", "officer-pw1") == status::ok);
    auto users = co->call(operation::list_users).fields["users"];
    CHECK(users[1]["failures"] == 5);
    CHECK(n.connect()->user_op(operation::login, "CU", "target", "target-pw1") ==
          status::user_login_failure);
}

TEST_CASE("connections beyond the limit are refused; slow senders are cut off") {
    one_node n;
    n.node.reset();
    n.node = std::make_unique<running_node>(
        n.data, std::vector<std::string>{"--kdf-iterations", "1000", "--max-connections", "2",
                                         "--frame-timeout", "1", "--idle-timeout", "2"});
    auto first = n.connect();
    auto second = n.connect();
    sync_client third(n.client_id);
    CHECK_THROWS_AS(third.connect(n.node->port, cluster), client_error);
    first.reset();
    // The node notices the closed connection at once; give it a bounded moment.
    bool admitted = false;
    for (int i = 0; i < 50 && !admitted; ++i) {
        try {
            sync_client again(n.client_id);
            again.connect(n.node->port, cluster);
            admitted = true;
        } catch (const client_error&) {
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
    }
    CHECK(admitted);
    second.reset();
    // Wait (bounded) until the node has seen both connections close.
    for (int i = 0; i < 50; ++i) {
        try {
            sync_client probe(n.client_id);
            probe.connect(n.node->port, cluster);
            sync_client probe2(n.client_id);
            probe2.connect(n.node->port, cluster);
            break;
        } catch (const client_error&) {
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
    }
    // A body that never completes: cut off after the frame timeout.
    CHECK(node_hangs_up_after(n, std::string("\x00\x00\x00\x64{\"v\":1", 10)));
    // A connection that says nothing: cut off after the idle timeout.
    CHECK(node_hangs_up_after(n, std::string()));
}

TEST_CASE("a bad request field type gets RET_BAD_REQUEST-free handling, not a crash") {
    one_node n;
    auto c = n.connect();
    CHECK(c->code(operation::login, {{"type", 5}, {"name", "admin"}, {"password", "password"}}) ==
          status::invalid_user_type);
    CHECK(c->code(operation::login, {{"type", "CO"}, {"name", json::array()}}) ==
          status::user_login_failure);
    CHECK(c->code(operation::list_users) == status::ok);
}

TEST_CASE("the node's default password cost is 600,000 iterations") {
    one_node n;
    n.node.reset();
    n.node = std::make_unique<running_node>(n.data, std::vector<std::string>{});
    auto c = n.connect();
    CHECK(c->call(operation::hsm_info).fields["kdf"] == "PBKDF2-HMAC-SHA256, 600000 iterations");
}

TEST_CASE("serve refuses an uninitialised node; SIGTERM stops a node cleanly") {
    temp_dir dir;
    auto data = dir.path / "raw";
    REQUIRE(hsmd({"create-cluster", "--data", data.string(), "--cluster-id", cluster}).status == 0);
    auto r = hsmd({"serve", "--data", data.string(), "--listen", "127.0.0.1:0"});
    CHECK(r.status != 0);
    one_node n;
    n.node->process->signal(SIGTERM);
    // Generous: a sanitizer build on a loaded machine is slow to stop. A
    // failure shows the node's log (a sanitizer report lands there).
    auto status = n.node->process->wait(std::chrono::seconds(30));
    CHECK_MESSAGE(status == 0, "exit ", status ? std::to_string(*status) : "none (still running)",
                  "; the node's log:\n", read_file(n.dir.path / "node.log", 1 << 20));
}

TEST_CASE("serve refuses a damaged store with a clear message") {
    one_node n;
    n.node.reset();
    auto db = n.data / "hsm.db";
    // The WAL may hold the latest pages: fold it in first, then damage the file.
    fs::remove(n.data / "hsm.db-wal");
    fs::remove(n.data / "hsm.db-shm");
    auto bytes = read_file(db, 1 << 20);
    REQUIRE(bytes.size() > 8192);
    for (std::size_t i = 4096; i < bytes.size(); ++i)
        bytes[i] = static_cast<char>(i * 31);
    write_file_atomic(db, bytes, 0600);
    auto r = hsmd({"serve", "--data", n.data.string(), "--listen", "127.0.0.1:0"});
    CHECK(r.status != 0);
}

TEST_CASE("install-node-certificate takes only this node's own certificate") {
    temp_dir dir;
    test_ca ca("customer CA"), other("other CA");
    auto data = dir.path / "n0", twin = dir.path / "n1";
    make_node(data, cluster, ca);
    REQUIRE(hsmd({"clone", "--from", data.string(), "--data", twin.string()}).status == 0);
    auto csr = [](const fs::path& node) {
        return csr_from_pem(read_file(node / "node.csr", 65536));
    };
    auto write = [&](const char* name, const std::string& text) {
        write_file_atomic(dir.path / name, text, 0644);
        return (dir.path / name).string();
    };
    auto install = [&](const std::string& cert) {
        return hsmd({"install-node-certificate", "--data", data.string(), "--signed-cert", cert});
    };
    auto own = csr(data);
    struct violation {
        std::string cert, message;
    } cases[] = {
        // The clone's certificate names the clone's HSM id and key.
        {write("twin.crt", ca.issue(csr(twin).get(), cert_usage::server_and_client)),
         "does not carry the key"},
        {write("foreign.crt", other.issue(own.get(), cert_usage::server_and_client)),
         "not issued by the trust anchor"},
        {write("client.crt", ca.issue(own.get(), cert_usage::client)), "serverAuth and clientAuth"},
    };
    for (const auto& v : cases) {
        auto r = install(v.cert);
        CAPTURE(r.output);
        CHECK(r.status != 0);
        CHECK(r.output.find(v.message) != std::string::npos);
        CHECK_FALSE(fs::exists(data / "node.crt"));
    }
    auto ok = install(write("own.crt", ca.issue(own.get(), cert_usage::server_and_client)));
    CHECK_MESSAGE(ok.status == 0, ok.output);
    auto described = json::parse(ok.output);
    CHECK(described["NodeCertificateFingerprint"].get<std::string>().starts_with("SHA256:"));
    // The clone's own request names the same cluster and its own HSM id.
    auto twin_cert = cert_from_pem(ca.issue(csr(twin).get(), cert_usage::server_and_client));
    auto twin_described = json::parse(hsmd({"describe", "--data", twin.string()}).output);
    CHECK(subject_serial_number(twin_cert.get()) == twin_described["HsmId"]);
    CHECK(common_name(twin_cert.get()) == cluster);
}

TEST_CASE("initialize-cluster refuses every violation and changes nothing") {
    temp_dir dir;
    test_ca ca("customer CA"), other("other CA");
    auto data = dir.path / "n";
    REQUIRE(hsmd({"create-cluster", "--data", data.string(), "--cluster-id", cluster}).status == 0);
    auto csr = csr_from_pem(read_file(data / "cluster.csr", 65536));
    auto write = [&](const char* name, const std::string& text) {
        write_file_atomic(dir.path / name, text, 0644);
        return (dir.path / name).string();
    };
    auto good_cert = write("good.crt", ca.issue(csr.get(), cert_usage::server_and_client));
    auto anchor = write("anchor.crt", ca.pem());
    auto init = [&](const std::string& id, const std::string& cert, const std::string& trust) {
        return hsmd({"initialize-cluster", "--data", data.string(), "--cluster-id", id,
                     "--signed-cert", cert, "--trust-anchor", trust, "--kdf-iterations", "1000"});
    };
    auto foreign = write("foreign.crt", other.issue(csr.get(), cert_usage::server));
    auto other_key_csr = make_csr(generate_key().get(), cluster);
    auto wrong_key = write("wrongkey.crt", ca.issue(other_key_csr.get(), cert_usage::server));
    auto wrong_name_csr = make_csr(generate_key().get(), "cluster-else");
    auto big = write("big.crt", std::string(5001, 'A'));
    // An application's certificate from the same CA: it may not serve as a node.
    auto client_only = write("client.crt", ca.issue(csr.get(), cert_usage::client));
    // A server-only one: the node could not call its peers with it.
    auto server_only = write("server.crt", ca.issue(csr.get(), cert_usage::server));
    auto leaf_as_anchor = good_cert;

    struct violation {
        std::string id, cert, trust, message;
    } cases[] = {
        {cluster, big, anchor, "longer than 5000"},
        {cluster, good_cert, leaf_as_anchor, "not self-signed"},
        {cluster, foreign, anchor, "not issued by the trust anchor"},
        {cluster, wrong_key, anchor, "does not carry the key"},
        {cluster, client_only, anchor, "does not name serverAuth and clientAuth"},
        {cluster, server_only, anchor, "does not name serverAuth and clientAuth"},
        {"cluster-else", good_cert, anchor, "belongs to cluster"},
    };
    for (const auto& v : cases) {
        auto r = init(v.id, v.cert, v.trust);
        CAPTURE(r.output);
        CHECK(r.status != 0);
        CHECK(r.output.find(v.message) != std::string::npos);
        CHECK(r.output.find("\"State\":\"UNINITIALIZED\"") != std::string::npos);
        CHECK_FALSE(fs::exists(data / "cluster.crt"));
    }
    auto ok = init(cluster, good_cert, anchor);
    CHECK(ok.status == 0);
    CHECK(ok.output.find("\"State\":\"INITIALIZED\"") != std::string::npos);
    CHECK(init(cluster, good_cert, anchor).status != 0);
    auto described = json::parse(hsmd({"describe", "--data", data.string()}).output);
    CHECK(described["State"] == "INITIALIZED");
    CHECK((fs::status(data / "cluster.key").permissions() & fs::perms::all) ==
          (fs::perms::owner_read | fs::perms::owner_write));
}
