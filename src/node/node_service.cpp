// SPDX-License-Identifier: Apache-2.0
// The node's request handling.
#include "node_service.hpp"

#include "hsmsh/kdf.hpp"
#include "hsmsh/log.hpp"
#include "planned_change.hpp"
#include "policy.hpp"
#include "request_fields.hpp"

namespace hsm {
namespace {

inline constexpr std::string_view firmware_version = "0.1.0";

} // namespace

node_service::node_service(user_store& store, node_identity identity, std::uint32_t kdf_iterations,
                           asio::any_io_executor kdf_executor)
    : store_(store), identity_(std::move(identity)), kdf_iterations_(kdf_iterations),
      kdf_executor_(std::move(kdf_executor)) {}

std::string node_service::state() const {
    return store_.meta("state").value_or("DEGRADED");
}

int node_service::sessions_of(std::int64_t user_id) const {
    auto it = logged_in_.find(user_id);
    return it == logged_in_.end() ? 0 : it->second;
}

void node_service::audit(const session& s, operation op, std::string_view target, status result) {
    audit_entry e{s.user_id ? s.user_name : "-",
                  s.user_id ? std::string(user_type_name(s.type)) : "-",
                  s.peer,
                  std::string(operation_name(op)),
                  std::string(target),
                  std::string(status_name(result))};
    store_.transact([&] { store_.append_audit(identity_.hsm_id, e); });
}

void node_service::audit_violation(const std::string& peer, std::string_view reason) noexcept {
    try {
        audit_entry e{"-", "-", peer, "protocol_violation", std::string(reason), "disconnected"};
        store_.transact([&] { store_.append_audit(identity_.hsm_id, e); });
    } catch (const std::exception& ex) {
        log_event("audit write failed: {}", escape_control(ex.what()));
    }
}

void node_service::end_session(session& s) noexcept {
    if (!s.user_id) return;
    if (--logged_in_[*s.user_id] <= 0) logged_in_.erase(*s.user_id);
    s.user_id.reset();
}

awaitable<reply> node_service::handle(session& s, request& r) {
    try {
        co_return co_await dispatch(s, r);
    } catch (const store_error& e) {
        log_event("store failure on {}: {}", operation_name(r.op), escape_control(e.what()));
        co_return reply{r.id, status::storage_failure, json::object()};
    } catch (const std::exception& e) {
        log_event("internal error on {}: {}", operation_name(r.op), escape_control(e.what()));
        co_return reply{r.id, status::internal_error, json::object()};
    }
}

awaitable<reply> node_service::dispatch(session& s, request& r) {
    reply out{r.id, status::ok, json::object()};
    if (r.version != protocol_version) {
        out.code = status::unsupported_version;
        co_return out;
    }
    // Named, not a temporary in the co_await expressions below: see client.cpp.
    secret given = take_password(r.fields).value_or(secret{});
    switch (r.op) {
    case operation::hello:
        out.fields = {{"version", protocol_version},
                      {"cluster_id", identity_.cluster_id},
                      {"hsm_id", identity_.hsm_id},
                      {"state", state()}};
        break;
    case operation::login:
        out.code = co_await login(s, r.fields, std::move(given));
        break;
    case operation::logout:
        out.code = logout(s);
        break;
    case operation::list_users:
        out.fields = list_users();
        break;
    case operation::create_user:
    case operation::delete_user:
    case operation::change_password:
        out.code = co_await direct(s, r.op, r.fields, std::move(given));
        break;
    case operation::prepare:
        out.code = co_await prepare(s, r.fields, std::move(given));
        break;
    case operation::commit:
        out.code = finish_tx(s, string_field(r.fields, "txid").value_or(""), true);
        break;
    case operation::abort:
        out.code = finish_tx(s, string_field(r.fields, "txid").value_or(""), false);
        break;
    case operation::tx_status:
        out.fields = {{"outcome", tx_outcome(string_field(r.fields, "txid").value_or(""))}};
        break;
    case operation::get_user:
        out.code = get_user(s, r.fields, out.fields);
        break;
    case operation::hsm_info:
        out.fields = hsm_info();
        break;
    case operation::describe_cluster:
        out.fields = describe_cluster();
        break;
    }
    co_return out;
}

awaitable<status> node_service::login(session& s, const json& f, secret password) {
    if (s.user_id) co_return status::already_logged_in;
    auto target = parse_target(f, status::user_login_failure);
    if (target.error != status::ok) co_return target.error;
    std::string name = target.name;
    auto user = store_.find(name);
    bool plausible = valid_password(password.view());
    if (!user || !same_type(user->type, target.type) || !plausible) {
        // Spend the same work whatever is wrong, so timing tells nothing.
        if (plausible)
            co_await off_thread([&] { dummy_derivation(password.view(), kdf_iterations_); });
        audit(s, operation::login, name, status::user_login_failure);
        co_return status::user_login_failure;
    }
    bool good = co_await off_thread([&] { return verify_password(password.view(), user->hash); });
    // Re-read: other connections may have counted failures meanwhile.
    user = store_.find(name);
    if (!user || user->locked() || !good) {
        audit_entry e{"-", "-", s.peer, "login", name, "RET_USER_LOGIN_FAILURE"};
        store_.transact([&] {
            if (user && !user->locked()) store_.record_login_failure(user->id);
            store_.append_audit(identity_.hsm_id, e);
        });
        co_return status::user_login_failure;
    }
    s.user_id = user->id;
    s.user_name = user->name;
    s.type = user->type;
    ++logged_in_[user->id];
    store_.transact([&] {
        store_.record_login_success(user->id);
        store_.append_audit(identity_.hsm_id, {s.user_name, std::string(user_type_name(s.type)),
                                               s.peer, "login", name, "RET_OK"});
    });
    co_return status::ok;
}

status node_service::logout(session& s) {
    auto allowed = authorize(s.actor(), operation::logout, true);
    if (allowed != status::ok) return allowed;
    audit(s, operation::logout, s.user_name, status::ok);
    end_session(s);
    return status::ok;
}

json node_service::list_users() const {
    json users = json::array();
    for (const auto& u : store_.list())
        users.push_back({{"id", u.id},
                         {"type", user_type_name(u.type)},
                         {"name", u.name},
                         {"mofn", u.mofn},
                         {"failures", u.failures},
                         {"two_fa", u.two_fa},
                         {"version", u.version},
                         {"digest", record_digest(u.name, u.type, u.version, u.locked(), u.hash)}});
    return {{"users", std::move(users)}};
}

json node_service::hsm_info() const {
    return {{"hsm_id", identity_.hsm_id},
            {"cluster_id", identity_.cluster_id},
            {"state", state()},
            {"model", "hsmd software HSM"},
            {"serial_number", identity_.hsm_id},
            {"firmware", firmware_version},
            {"users", store_.count_users()},
            {"max_users", max_users_per_node},
            {"kdf", fmt::format("PBKDF2-HMAC-SHA256, {} iterations", kdf_iterations_)},
            {"certificate_fingerprint", identity_.certificate_fingerprint},
            {"peers", identity_.peers}};
}

json node_service::describe_cluster() const {
    return {{"cluster_id", identity_.cluster_id},
            {"hsm_id", identity_.hsm_id},
            {"state", state()},
            {"certificate_fingerprint", identity_.certificate_fingerprint},
            {"peers", identity_.peers}};
}

} // namespace hsm
