// SPDX-License-Identifier: Apache-2.0
// The node's request handling and its sessions.
#include "node_service.hpp"

#include "hsmsh/duration.hpp"
#include "hsmsh/kdf.hpp"
#include "hsmsh/log.hpp"
#include "hsmsh/policy.hpp"
#include "planned_change.hpp"
#include "request_fields.hpp"

#include <algorithm>

namespace hsm {
namespace {

inline constexpr std::string_view firmware_version = "0.2.0";

} // namespace

node_service::node_service(user_store& store, node_identity identity, cluster_keys keys,
                           std::uint32_t kdf_iterations, asio::any_io_executor kdf_executor,
                           derivation_budget::limits budget)
    : store_(store), identity_(std::move(identity)), keys_(std::move(keys)),
      kdf_iterations_(kdf_iterations), kdf_executor_(std::move(kdf_executor)), budget_(budget),
      peers_(identity_.hsm_id, identity_.peers) {
    if (!identity_.trust_anchor.empty()) trust_anchor_ = cert_from_pem(identity_.trust_anchor);
    check_operations();
}

void node_service::authenticate(session& s, std::string fingerprint,
                                std::string node_hsm_id) const {
    s.peer_node = !node_hsm_id.empty() || (fingerprint == identity_.certificate_fingerprint &&
                                           !identity_.node_certificates_only);
    s.node_hsm_id = std::move(node_hsm_id);
    s.peer = std::move(fingerprint);
}

std::string node_service::node_named_by(X509* cert) const {
    if (!cert || !trust_anchor_ || !issued_by(cert, trust_anchor_.get())) return {};
    if (common_name(cert) != identity_.cluster_id) return {};
    if (!names_server_use(cert) || !names_client_use(cert)) return {};
    return subject_serial_number(cert);
}

cluster_state node_service::state() const {
    return store_.state();
}

audit_entry node_service::entry_for(const session& s, std::string_view what,
                                    std::string_view target, status result) {
    return {s.user_id ? s.user_name : "-",
            s.user_id ? std::string(user_type_name(s.type)) : "-",
            s.peer,
            std::string(what),
            std::string(target),
            std::string(status_name(result))};
}

void node_service::audit(const session& s, std::string_view what, std::string_view target,
                         status result) {
    store_.transact(
        [&] { store_.append_audit(identity_.hsm_id, entry_for(s, what, target, result)); });
}

void node_service::audit_violation(const std::string& peer, std::string_view reason) noexcept {
    try {
        audit_entry e{"-", "-", peer, "protocol_violation", std::string(reason), "disconnected"};
        store_.transact([&] { store_.append_audit(identity_.hsm_id, e); });
    } catch (const std::exception& ex) {
        log_error("audit write failed: {}", escape_control(ex.what()));
    }
}

void node_service::bind(session& s, const user_record& u) {
    if (!s.user_id) sessions_.emplace(u.id, &s);
    s.user_id = u.id;
    s.user_name = u.name;
    s.type = u.type;
    s.generation = u.generation;
}

void node_service::end_session(session& s) noexcept {
    tokens_.drop(&s); // a token lives no longer than its session's login
    s.challenge.reset();
    if (!s.user_id) return;
    auto [first, last] = sessions_.equal_range(*s.user_id);
    for (auto it = first; it != last; ++it)
        if (it->second == &s) {
            sessions_.erase(it);
            break;
        }
    s.user_id.reset();
}

// Whether the session still acts for the record it authenticated; a session
// whose user was deleted, or whose credentials or type changed, is ended.
bool node_service::current(session& s) {
    if (!s.user_id) return false;
    auto [first, last] = sessions_.equal_range(*s.user_id);
    bool registered = std::any_of(first, last, [&](const auto& e) { return e.second == &s; });
    auto u = registered ? store_.find_id(*s.user_id) : std::nullopt;
    if (u && u->generation == s.generation && u->type == s.type) return true;
    end_session(s);
    return false;
}

// After user `user_id` changed: the acting session (the user changing its own
// password, or activating the cluster) follows its record; every other
// session of that user whose credentials or type changed (or which was
// deleted) ends, in the same step as the change. A change that leaves them
// (a quorum key) ends none.
void node_service::settle_sessions(std::int64_t user_id, session* actor) {
    auto u = store_.find_id(user_id);
    std::vector<session*> of_user;
    auto [first, last] = sessions_.equal_range(user_id);
    for (auto it = first; it != last; ++it)
        of_user.push_back(it->second);
    for (auto* s : of_user) {
        if (u && s == actor)
            bind(*s, *u);
        else if (!u || u->generation != s->generation || u->type != s->type)
            end_session(*s);
    }
}

awaitable<reply> node_service::handle(session& s, request& r) {
    try {
        co_return co_await dispatch(s, r);
    } catch (const store_error& e) {
        log_error("store failure on {}: {}", operation_name(r.op), escape_control(e.what()));
        co_return reply{r.id, status::storage_failure, json::object()};
    } catch (const std::exception& e) {
        log_error("internal error on {}: {}", operation_name(r.op), escape_control(e.what()));
        co_return reply{r.id, status::internal_error, json::object()};
    }
}

// g++ 12 may warn that the coroutine frame's operator delete mismatches its
// operator new (-Wmismatched-new-delete), depending on what it inlines; both
// are Asio's awaitable_frame_base pair (as in peer_call.cpp).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
awaitable<reply> node_service::dispatch(session& s, request& r) {
    reply out{r.id, status::ok, json::object()};
    if (r.version != protocol_version) {
        out.code = status::unsupported_version;
        co_return out;
    }
    // Named, not a temporary in the co_await expressions below: see client.cpp.
    secret given = take_password(r.fields).value_or(secret{});
    current(s); // a session whose record changed acts for nobody from here on
    const auto& entry = operations_[static_cast<std::size_t>(r.op)];
    node_call call{s, r.fields, given, out.fields};
    out.code = admit(entry, s);
    bool let_in = out.code == status::ok;
    if (let_in)
        out.code = entry.run ? entry.run(*this, call) : co_await entry.run_async(*this, call);
    audit_by_rule(entry, s, r.fields, let_in, out.code);
    // An officer refused a deletion learns how many keys stand in the way.
    if (out.code == status::user_owns_keys)
        if (auto name = string_field(r.fields, "name"); name && valid_user_name(*name))
            if (auto u = store_.find(canonical_user_name(*name)))
                out.fields = {{"keys", store_.count_owned_keys(u->id)}};
    co_return out;
}
#pragma GCC diagnostic pop

// What every login costs, found or not: the node's own count or the highest
// a stored record asks for, so that timing tells nothing of which user exists.
std::uint32_t node_service::login_cost() const {
    return std::clamp(std::max(kdf_iterations_, store_.max_iterations()), min_kdf_iterations,
                      max_kdf_iterations);
}

void node_service::set_key_work_threads(std::size_t threads) {
    threads = std::max<std::size_t>(threads, 2);
    key_uses_ = derivation_budget({.total = threads, .per_peer = threads - 1, .max_waiting = 64});
}

awaitable<status> node_service::login(session& s, const json& f, secret password, json& out) {
    if (s.user_id) co_return status::already_logged_in;
    auto target = parse_target(f, status::user_login_failure);
    if (target.error != status::ok) co_return target.error;
    auto ticket = co_await budget_.acquire(s.peer);
    if (!ticket) co_return status::busy;
    std::string name = target.name;
    auto user = store_.find(name);
    auto cost = login_cost();
    bool plausible = valid_password(password.view());
    if (!user || !same_type(user->type, target.type) || !plausible) {
        if (plausible) co_await off_thread([&] { dummy_derivation(password.view(), cost); });
        audit(s, "login", name, status::user_login_failure);
        co_return status::user_login_failure;
    }
    bool good = co_await off_thread([&] {
        bool same = verify_password(password.view(), user->hash);
        if (cost > user->hash.iterations)
            dummy_derivation(password.view(), cost - user->hash.iterations);
        return same;
    });
    // Accept only the very record that was verified: a change made meanwhile
    // (a reset, a deletion, a sync) wins over a login that read the old one.
    auto now = store_.find_id(user->id);
    bool unchanged = now && now->generation == user->generation;
    if (!unchanged || now->locked() || !good) {
        store_.transact([&] {
            if (now && !now->locked() && !good) store_.record_login_failure(now->id);
            store_.append_audit(identity_.hsm_id,
                                entry_for(s, "login", name, status::user_login_failure));
        });
        co_return status::user_login_failure;
    }
    // The password is right, so saying why is safe: a prepared change of
    // this user (a deletion, a reset) is waiting for its commit.
    if (store_.reserved(name)) {
        audit(s, "login", name, status::user_change_pending);
        co_return status::user_change_pending;
    }
    if (now->two_fa) {
        // The password was right; the login now waits for a signature by
        // the user's registered key over a challenge only this session has.
        s.challenge = two_factor_challenge::issue(
            two_factor_challenge::purpose::login, now->id, now->generation,
            {identity_.hsm_id, now->name, s.channel}, tokens_.lifetime());
        out = {{"challenge", to_hex(s.challenge->challenge)}, {"hsm_id", identity_.hsm_id}};
        audit(s, "login", name, status::two_factor_required);
        co_return status::two_factor_required;
    }
    logged_in(s, *now, "login");
    co_return status::ok;
}

// A login's last step: the failure count reset, the audit row, the session bound.
void node_service::logged_in(session& s, const user_record& u, std::string_view what) {
    auto entry = entry_for(s, what, u.name, status::ok);
    entry.actor = u.name;
    entry.role = user_type_name(u.type);
    store_.transact([&] {
        store_.record_login_success(u.id);
        store_.append_audit(identity_.hsm_id, entry);
    });
    bind(s, u);
}

// A login's second step. A wrong signature counts as a failed login (the
// password alone must not be enough to try keys for free); the challenge is
// gone after one answer, right or wrong. Without a login challenge (which
// only a right password gives) it costs nothing and writes nothing, as every
// other request before login (docs/design.md, "Clients not logged in").
status node_service::login_2fa(session& s, const json& f) {
    if (s.user_id) return status::already_logged_in;
    auto challenge = std::exchange(s.challenge, std::nullopt);
    if (!challenge || challenge->what != two_factor_challenge::purpose::login)
        return status::user_login_failure;
    auto user = store_.find_id(challenge->user_id);
    if (!user) return status::user_login_failure;
    auto signature = two_factor_challenge::signature_for(f, identity_.hsm_id);
    auto key = user->two_fa ? quorum_key::from_der(user->quorum_key) : std::nullopt;
    bool good = signature && key && !user->locked() &&
                challenge->answered(two_factor_challenge::purpose::login, user->id,
                                    user->generation, *key, *signature);
    if (!good) {
        bool same_record = user->generation == challenge->generation;
        store_.transact([&] {
            if (same_record && !user->locked()) store_.record_login_failure(user->id);
            store_.append_audit(identity_.hsm_id,
                                entry_for(s, "login_2fa", user->name, status::user_login_failure));
        });
        return status::user_login_failure;
    }
    if (store_.reserved(user->name)) {
        audit(s, "login_2fa", user->name, status::user_change_pending);
        return status::user_change_pending;
    }
    logged_in(s, *user, "login_2fa");
    return status::ok;
}

// A challenge whose signature proves that the officer holds the key it turns
// two-factor login on with (createUser or changePswd with -2fa).
status node_service::get_2fa_challenge(session& s, json& out) {
    s.challenge =
        two_factor_challenge::issue(two_factor_challenge::purpose::enroll, *s.user_id, s.generation,
                                    {identity_.hsm_id, s.user_name, s.channel}, tokens_.lifetime());
    out = {{"challenge", to_hex(s.challenge->challenge)}, {"hsm_id", identity_.hsm_id}};
    return status::ok;
}

status node_service::logout(session& s) {
    // Ended first: a logout must take effect even when its audit row cannot
    // be written (a full disk answers RET_STORAGE_FAILURE, and the session is gone).
    auto entry = entry_for(s, "logout", s.user_name, status::ok);
    end_session(s);
    store_.transact([&] { store_.append_audit(identity_.hsm_id, entry); });
    return status::ok;
}

std::string node_service::digest_of(const user_record& u) const {
    return record_digest(keys_.digest(), u.name, u.type, u.version, u.locked(), u.hash,
                         u.quorum_key, u.two_fa, u.key_quota);
}

json node_service::list_users() const {
    std::vector<user_summary> users;
    for (const auto& u : store_.list())
        users.push_back({.id = u.id,
                         .type = std::string(user_type_name(u.type)),
                         .name = u.name,
                         .mofn = u.mofn(),
                         .failures = u.failures,
                         .two_fa = u.two_fa,
                         .version = u.version,
                         .digest = digest_of(u),
                         .key_quota = u.type == user_type::cu
                                          ? std::optional<std::int64_t>(key_quota_of(u))
                                          : std::nullopt});
    return {{"users", to_json(users)}};
}

json node_service::hello() const {
    return {{"version", protocol_version},
            {"cluster_id", identity_.cluster_id},
            {"hsm_id", identity_.hsm_id},
            {"state", cluster_state_name(state())}};
}

json node_service::hsm_info() const {
    auto head = store_.head();
    return to_json(
        hsm::hsm_info{.hsm_id = identity_.hsm_id,
                      .cluster_id = identity_.cluster_id,
                      .state = std::string(cluster_state_name(state())),
                      .model = "hsmd software HSM",
                      .serial_number = identity_.hsm_id,
                      .firmware = std::string(firmware_version),
                      .users = static_cast<std::int64_t>(store_.count_users()),
                      .max_users = static_cast<std::int64_t>(max_users_per_node),
                      .kdf = fmt::format("PBKDF2-HMAC-SHA256, {} iterations", kdf_iterations_),
                      .certificate_fingerprint = identity_.certificate_fingerprint,
                      .audit_head = fmt::format("{}:{}", head.rows, head.hash),
                      .peers = peers_.addresses()});
}

json node_service::describe_cluster() const {
    return {{"cluster_id", identity_.cluster_id},
            {"hsm_id", identity_.hsm_id},
            {"state", cluster_state_name(state())},
            {"certificate_fingerprint", identity_.certificate_fingerprint},
            {"peers", peers_.addresses()}};
}

void node_service::advertise(const std::string& self) {
    peers_.set_self(self, unix_ms());
}

// Only another node of the cluster (the table's gate): a user, even an
// officer, cannot point this node's resolver or anyone's discovery elsewhere.
status node_service::announce_peers(session& s, const json& f, json& out) {
    learn_peers(f, s.node_hsm_id);
    out = peers_.announcement();
    return status::ok;
}

void node_service::learn_peers(const json& announcement, const std::string& speaker) {
    if (!peers_.learn(announcement, unix_ms(), speaker)) return;
    store_.transact([&] { store_.set_meta(meta_key::peers, peers_.to_json().dump()); });
    log_event("peers now: {}", escape_control(json(peers_.addresses()).dump()));
    if (peers_changed_) peers_changed_();
}

} // namespace hsm
