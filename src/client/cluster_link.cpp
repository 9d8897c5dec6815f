// SPDX-License-Identifier: Apache-2.0
// Connections to every server of one cluster, and the parallel fan-out.
#include "hsmsh/client/cluster_link.hpp"
#include "hsmsh/process.hpp"

#include "hsmsh/files.hpp"
#include "hsmsh/pki.hpp"
#include "hsmsh/tls.hpp"

#include <future>
#include <map>
#include <memory>

#include <csignal>
#include <pthread.h>

#include <fmt/format.h>

namespace hsm {
namespace {

constexpr std::size_t max_pem_file = 64 * 1024;

std::string read_config_file(const fs::path& path, std::string_view field) {
    try {
        return read_file(path, max_pem_file);
    } catch (const file_error& e) {
        throw config_error(fmt::format("{}: {}", field, e.what()));
    }
}

ssl::context client_context(const cluster_config& c, OSSL_LIB_CTX* libctx) {
    tls_identity id{read_config_file(c.client_cert, "client_cert"),
                    read_config_file(c.client_key, "client_key"),
                    {read_config_file(c.hsm_ca_cert, "hsm_ca_cert")},
                    {},
                    {}};
    try {
        return libctx ? make_client_context(id, libctx) : make_client_context(id);
    } catch (const pki_error& e) {
        throw config_error(fmt::format("client_cert/client_key/hsm_ca_cert: {}", e.what()));
    }
}

} // namespace

cluster_link::cluster_link(const cluster_config& config, duration connect_timeout,
                           duration request_timeout, OSSL_LIB_CTX* libctx)
    : cluster_id_(config.cluster_id), pin_(config.cluster_cert), servers_(config.servers),
      connect_timeout_(connect_timeout), request_timeout_(request_timeout), io_(1),
      work_(io_.get_executor()), tls_(client_context(config, libctx)) {
    for (std::size_t i = 0; i < servers_.size(); ++i) {
        clients_.push_back(std::make_unique<node_client>(io_.get_executor(), tls_));
        if (!pin_.empty()) clients_.back()->pin(pin_);
    }
    // The network thread takes no signal: a Ctrl-C must reach the thread that
    // reads the terminal (its read returns EINTR), never this one, where it
    // would set the flag while the terminal's read went on waiting (seen under
    // load: Ctrl-C at y/n did nothing). An application using the PKCS#11
    // module keeps its signals too.
    signals_blocked during_start;
    thread_ = std::thread([this] { io_.run(); });
}

cluster_link::~cluster_link() {
    work_.reset();
    asio::post(io_, [this] {
        for (auto& c : clients_)
            c->abort();
    });
    thread_.join();
}

bool cluster_link::connected(std::size_t i) const {
    // Read on the terminal thread between calls, when the network thread is idle.
    return clients_.at(i)->connected();
}

std::vector<std::uint8_t> cluster_link::channel(std::size_t i) const {
    // As connected(): between calls, the network thread is idle.
    return clients_.at(i)->channel();
}

// What a fan-out's completions share with the thread that waits for them.
// Only the network thread touches it once the tasks run, but `finished`,
// which the waiting thread reads too (tell_slow).
struct fan_progress {
    explicit fan_progress(std::size_t tasks)
        : finished(tasks), pending(tasks), all_done(done.get_future()) {}
    virtual ~fan_progress() = default;

    std::vector<std::atomic<bool>> finished;
    std::exception_ptr error;
    std::size_t pending;
    std::promise<void> done;
    std::future<void> all_done;
    std::optional<asio::steady_timer> deadline;

    // Task `k` ended: the last one wakes the waiting thread (one wake-up
    // per fan-out rather than one per server).
    void finish(std::size_t k, std::exception_ptr e) {
        if (e && !error) error = e;
        finished[k] = true;
        if (--pending > 0) return;
        if (deadline) deadline->cancel();
        done.set_value();
    }
};

namespace {

template <typename T> struct gather : fan_progress {
    explicit gather(std::size_t tasks) : fan_progress(tasks), results(tasks) {}
    std::vector<T> results;
};

} // namespace

void cluster_link::expire_after(std::shared_ptr<fan_progress> progress,
                                const std::vector<std::size_t>& targets, duration after) {
    // Posted before the tasks, so it runs before any of them can finish.
    asio::post(io_, [this, progress, targets, after] {
        progress->deadline.emplace(io_, after);
        progress->deadline->async_wait([this, progress, targets](boost::system::error_code ec) {
            if (ec) return; // every task finished first
            for (std::size_t k = 0; k < targets.size(); ++k)
                if (!progress->finished[k]) clients_[targets[k]]->expire();
        });
    });
}

void cluster_link::wait_for(const std::shared_ptr<fan_progress>& progress,
                            const std::vector<std::size_t>& targets,
                            const std::atomic<bool>* interrupt, std::optional<duration> deadline) {
    bool aborted = false;
    auto slow_at = std::chrono::steady_clock::now() + slow_after_;
    bool told = !slow_notice_;
    while (progress->all_done.wait_for(std::chrono::milliseconds(20)) !=
           std::future_status::ready) {
        if (!told && std::chrono::steady_clock::now() >= slow_at) {
            told = true;
            tell_slow(progress->finished, targets, deadline);
        }
        if (!aborted && interrupt && interrupt->load()) {
            aborted = true;
            // Only the requests still in flight: a server that answered
            // keeps its connection, and the login it holds.
            asio::post(io_, [this, progress, targets] {
                for (std::size_t k = 0; k < targets.size(); ++k)
                    if (!progress->finished[k]) clients_[targets[k]]->abort();
            });
        }
    }
}

template <typename T>
std::vector<T>
cluster_link::run_all(std::vector<awaitable<T>> tasks, const std::vector<std::size_t>& targets,
                      const std::atomic<bool>* interrupt, std::optional<duration> deadline) {
    if (tasks.empty()) return {};
    auto state = std::make_shared<gather<T>>(tasks.size());
    if (deadline) expire_after(state, targets, *deadline);
    for (std::size_t k = 0; k < tasks.size(); ++k)
        asio::co_spawn(io_, std::move(tasks[k]), [state, k](std::exception_ptr e, T value) {
            if (!e) state->results[k] = std::move(value);
            state->finish(k, e);
        });
    wait_for(state, targets, interrupt, deadline);
    if (state->error) std::rethrow_exception(state->error);
    return std::move(state->results);
}

void cluster_link::on_slow(duration after, std::function<void(const slow_servers&)> notice) {
    slow_after_ = after;
    slow_notice_ = std::move(notice);
}

void cluster_link::tell_slow(const std::vector<std::atomic<bool>>& finished,
                             const std::vector<std::size_t>& targets,
                             std::optional<duration> deadline) {
    slow_servers slow{{}, deadline.value_or(connect_timeout_), !deadline};
    for (std::size_t k = 0; k < targets.size(); ++k)
        if (!finished[k]) slow.waiting.push_back(targets[k]);
    if (!slow.waiting.empty()) slow_notice_(slow);
}

std::vector<connect_outcome> cluster_link::connect(const std::vector<std::size_t>& which) {
    std::vector<awaitable<connect_outcome>> tasks;
    // The coroutines take what they need as parameters: a lambda's captures
    // live in the closure, which dies before the coroutine finishes.
    auto task = [this](std::size_t i) -> awaitable<connect_outcome> {
        connect_outcome out;
        try {
            const auto& s = servers_[i];
            out.hello =
                co_await clients_[i]->connect(s.hostname, s.port, cluster_id_, connect_timeout_);
            out.ok = true;
        } catch (const client_error& e) {
            out.failure = e.kind;
            out.error = e.what();
        }
        co_return out;
    };
    for (auto i : which)
        tasks.push_back(task(i));
    auto outcomes = run_all(std::move(tasks), which, nullptr);
    if (pin_.empty()) agree_on_certificate(which, outcomes);
    return outcomes;
}

// Every node of a cluster holds the cluster's certificate; the customer CA
// also issues applications' certificates, and one of those in the list (a
// CMU file names no cluster; a rogue may name the right one) must not take
// an officer's password.
void cluster_link::agree_on_certificate(const std::vector<std::size_t>& which,
                                        std::vector<connect_outcome>& outcomes) {
    std::map<std::string, std::size_t> seen;
    std::string chosen;
    for (const auto& o : outcomes)
        if (o.ok && ++seen[o.hello.fingerprint] > seen[chosen]) chosen = o.hello.fingerprint;
    if (chosen.empty()) return;
    pin_ = chosen;
    for (std::size_t k = 0; k < outcomes.size(); ++k) {
        auto& o = outcomes[k];
        clients_[which[k]]->pin(pin_);
        if (!o.ok || o.hello.fingerprint == pin_) continue;
        asio::post(io_, [c = clients_[which[k]].get()] { c->abort(); });
        o = {false,
             {},
             client_failure::wrong_cluster,
             "the node's certificate is not the one the other nodes present"};
    }
}

std::vector<server_outcome> cluster_link::call(const std::vector<std::size_t>& targets,
                                               operation op, const json& fields,
                                               const std::atomic<bool>* interrupt) {
    std::vector<awaitable<server_outcome>> tasks;
    auto task = [this](std::size_t i, operation op, json fields,
                       const std::atomic<bool>* interrupt) -> awaitable<server_outcome> {
        server_outcome out;
        if (!clients_[i]->connected()) co_return out;
        try {
            // One deadline for the whole fan-out (run_all), not a timer per server.
            if (op == operation::list_users) {
                auto r = co_await clients_[i]->list_users(no_deadline);
                out.code = r.code;
                out.users = std::move(r.users);
            } else {
                auto r = co_await clients_[i]->call(op, std::move(fields), no_deadline);
                out.code = r.code;
                out.fields = std::move(r.fields);
            }
            out.what = server_outcome::kind::replied;
        } catch (const client_error& e) {
            bool cancelled = interrupt && interrupt->load();
            out.what = cancelled ? server_outcome::kind::cancelled : server_outcome::kind::failed;
            out.failure = e.kind;
            out.error = e.what();
        }
        co_return out;
    };
    for (auto i : targets)
        tasks.push_back(task(i, op, fields, interrupt));
    return run_all(std::move(tasks), targets, interrupt, request_timeout_);
}

void cluster_link::close_all() {
    std::vector<std::future<void>> futures;
    for (auto& c : clients_)
        futures.push_back(asio::co_spawn(io_, c->close(std::chrono::seconds(2)), asio::use_future));
    for (auto& f : futures)
        f.wait();
}

} // namespace hsm
