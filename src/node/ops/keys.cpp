// SPDX-License-Identifier: Apache-2.0
// Keys on a node: generated for a crypto user and sealed for the cluster,
// found and described for officers, used by their owners and the users they
// are shared with (docs/design.md, "Keys").
#include "ops/keys.hpp"
#include "crypto/key_crypto.hpp"
#include "hsmsh/duration.hpp"
#include "hsmsh/hex.hpp"
#include "hsmsh/log.hpp"
#include "hsmsh/protocol/policy.hpp"
#include "ops/session_keys.hpp"
#include "ops/sessions.hpp"

#include <algorithm>
#include <functional>

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace hsm {
namespace {

key_use use_of(operation op) {
    switch (op) {
    case operation::sign:
        return key_use::sign;
    case operation::verify:
        return key_use::verify;
    case operation::encrypt:
        return key_use::encrypt;
    default:
        return key_use::decrypt;
    }
}

// The class of a generation's main key: a pair's private half, or a secret key.
key_class main_class(const key_spec& spec) {
    return is_asymmetric(spec.type) ? key_class::private_key : key_class::secret_key;
}

// A key's use, with a request whose inputs were checked (use_key).
crypto_result used(key_use use, mechanism m, const loaded_key& key, const key_use_request& r) {
    switch (use) {
    case key_use::sign:
        return sign_data(m, key, *r.data, static_cast<std::size_t>(*r.mac_length));
    case key_use::verify:
        return verify_data(m, key, *r.data, *r.signature, static_cast<std::size_t>(*r.mac_length));
    case key_use::encrypt:
        return encrypt_data(m, key, *r.aad, *r.data);
    case key_use::decrypt:
        return decrypt_data(m, key, *r.aad, *r.data);
    case key_use::wrap: // wrap_key and unwrap_key's (key_transport.cpp)
    case key_use::unwrap:
        break;
    }
    return status::internal_error;
}

// Whether a use of `key` over `data_size` bytes is quick work
// (node_context.hpp, work_cost). `openssl speed` here, one core: ECDSA
// P-256 signs in 26 us and verifies in 68, Ed25519 in 44 and 109, RSA's
// public operation takes 20 us at 2048 bits and 62 at 4096, SHA-512 and
// AES-256-CBC go through 16 KiB in 18 us; P-384 signs in 1,000 us and
// RSA-2048's private operation takes 310.
work_cost cost_of(const key_record& key, key_use use, std::size_t data_size) {
    constexpr std::size_t quick_data = 16 * 1024; // hashed, or enciphered
    bool quick = data_size <= quick_data;
    if (key.type == key_type::ec) quick = quick && key.bits <= 256;
    if (key.type == key_type::rsa)
        quick = quick && (use == key_use::verify || use == key_use::encrypt) && key.bits <= 4096;
    return quick ? work_cost::quick : work_cost::heavy;
}

// What a generation or an import makes: its keys' type and size, names,
// and the flags of its main key (a pair's private half, or the one key).
struct new_keys {
    key_spec spec;
    key_class main = key_class::secret_key;
    const std::string& label;
    const std::string& id; // hex
    key_flags flags;
};

// The keys made described (a pair's public half as public_half_flags says)
// under handles `next_handle` draws (given the first's, or 0).
std::vector<key_record> described(const new_keys& what, const std::vector<generated_key>& made,
                                  const std::function<std::int64_t(std::int64_t)>& next_handle) {
    std::vector<key_record> records;
    for (const auto& g : made) {
        key_record d;
        d.handle = next_handle(records.empty() ? 0 : records.front().handle);
        d.cls = g.cls;
        d.type = what.spec.type;
        d.bits = what.spec.bits;
        d.label = what.label;
        d.id_hex = what.id;
        d.flags = g.cls == what.main ? what.flags : public_half_flags(what.spec.type, what.flags);
        d.public_der = g.public_der;
        records.push_back(std::move(d));
    }
    return records;
}

// New keys under fresh handles, owned by the session's user, sealed for the cluster.
std::vector<sealed_key> sealed_for_cluster(const node_context& n, const session& s,
                                           const new_keys& what, std::vector<generated_key>& made) {
    auto records =
        described(what, made, [&](std::int64_t first) { return next_key_handle(n, first); });
    std::vector<sealed_key> keys;
    for (std::size_t i = 0; i < records.size(); ++i) {
        key_contents k;
        k.description = std::move(records[i]);
        k.owner_name = s.user_name;
        k.material = std::move(made[i].material);
        k.sealed_at = unix_ms();
        keys.push_back({k.description.handle, k.description.cls,
                        to_hex(seal_key(n.keys.sealing(), n.identity.cluster_id, k))});
    }
    return keys;
}

// The keys made, handed over: kept as the session's (a key_page of them),
// or sealed for the cluster for a prepare to insert (their sealed forms).
status hand_over(node_context& n, session& s, bool in_session, const new_keys& what,
                 std::vector<generated_key>& made, json& out) {
    if (in_session) {
        auto records = described(what, made,
                                 [&](std::int64_t first) { return next_session_handle(s, first); });
        return keep_session_keys(n, s, std::move(records), made, out);
    }
    out = to_json(sealed_for_cluster(n, s, what, made));
    return status::ok;
}

// Whether the node (or, for session keys, the session and its user) may
// hold `objects` more keys, bringing `size` bytes of certificates or data.
bool room_for(const node_context& n, const session& s, bool in_session, std::size_t objects,
              std::size_t size = 0) {
    if (in_session) return session_keys_fit(n, s, objects, size);
    return n.store.keys().count() + n.store.keys().count_reserved() + objects <= max_keys_per_node;
}

// A page of list_keys: at most 32 keys, and public parts (hex: a
// certificate's 32 KiB at most, a data object's bytes 129 KiB) of 96 KiB or
// one object alone, so a page fits a frame.
constexpr std::size_t keys_per_page = 32;
constexpr std::size_t public_bytes_per_page = 96 * 1024;

} // namespace

key_actor key_actor_for(const session& s, const key_record& k) {
    key_actor who{s.actor()};
    if (!s.user_id) return who;
    who.owner = k.owner == *s.user_id;
    who.shared = std::ranges::find(k.shared, *s.user_id) != k.shared.end();
    return who;
}

std::string key_digest(const node_context& n, const key_record& k) {
    std::vector<std::string> shared;
    for (auto id : k.shared) {
        auto u = n.store.users().find_id(id);
        shared.push_back(u ? u->name : "?");
    }
    auto owner = n.store.users().find_id(k.owner);
    auto text = fmt::format("{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}", k.handle, key_class_name(k.cls),
                            key_type_name(k.type), k.bits, k.label, k.id_hex,
                            flags_to_json(k.flags).dump(), owner ? owner->name : "?",
                            fmt::join(shared, ","), k.material_digest, k.version);
    return to_hex(hmac_sha256(n.keys.digest(), text));
}

awaitable<status> generate_keys(node_context& n, session& s, generate_key_request r, json& out) {
    if (n.store.meta().state() != cluster_state::active) co_return status::cluster_not_active;
    const auto& spec = r.spec;
    if (!spec) co_return status::mechanism_invalid;
    const auto& label = r.label;
    const auto& id = r.id;
    auto main = main_class(*spec);
    auto flags = r.attributes ? flags_from_json(*r.attributes, default_flags(main, spec->type))
                              : default_flags(main, spec->type);
    // A generated key says so (CKA_LOCAL): it never claims to be imported.
    // Only an officer trusts (CKA_TRUSTED), and officers make no keys.
    if (!valid_key_label(label) || !valid_key_id_hex(id) || !flags || !flags->local ||
        flags->trusted || !templates_belong(*flags))
        co_return status::attribute_invalid;
    // Never extractable is what the node says of a key it made so.
    flags->never_extractable = !flags->extractable;
    if (!flags_fit(*flags, main, spec->type)) co_return status::attribute_invalid;
    if (!r.session) co_return status::bad_request;
    std::size_t objects = main == key_class::private_key ? 2 : 1; // a pair, or one key
    if (!room_for(n, s, *r.session, objects)) co_return status::key_limit_exceeded;
    // One generation at a time on the node, users taking turns: an RSA-4096
    // loop of one user never holds more than one thread.
    auto ticket = co_await n.generations.acquire(fmt::format("user {}", *s.user_id));
    if (!ticket) co_return status::busy;
    auto generated = co_await off_thread(n, [spec = *spec] { return generate_key_material(spec); });
    if (!current(n, s)) co_return status::not_logged_in;
    // Again now: the user's other sessions made theirs while this one
    // waited for its turn (the material goes unused, and is wiped).
    if (*r.session && !session_keys_fit(n, s, objects)) co_return status::key_limit_exceeded;
    co_return hand_over(n, s, *r.session, {*spec, main, r.label, r.id, *flags}, generated, out);
}

awaitable<status> import_keys(node_context& n, session& s, import_key_request r, json& out) {
    if (n.store.meta().state() != cluster_state::active) co_return status::cluster_not_active;
    if (!r.cls || !r.type || !r.session) co_return status::bad_request;
    auto flags = brought_in_flags(*r.cls, *r.type, r.attributes);
    if (!valid_key_label(r.label) || !valid_key_id_hex(r.id) || !flags ||
        !flags_fit(*flags, *r.cls, *r.type) || r.material_hex.size() > 2 * max_key_material)
        co_return status::attribute_invalid;
    auto der = from_hex(r.material_hex.view());
    if (!der) co_return status::attribute_invalid;
    key_material given(std::move(*der));
    incoming_key what{*r.cls, *r.type, r.label, r.id, *flags, *r.session};
    co_return co_await bring_in(n, s, what, given, out);
}

std::optional<key_flags> brought_in_flags(key_class c, key_type t,
                                          const std::optional<json>& attributes) {
    auto base = default_flags(c, t);
    base.local = base.always_sensitive = base.never_extractable = false;
    auto flags = attributes ? flags_from_json(*attributes, base) : base;
    // Only an officer trusts (CKA_TRUSTED), and officers bring no keys in.
    if (!flags || flags->local || flags->always_sensitive || flags->never_extractable ||
        flags->trusted || !templates_belong(*flags))
        return std::nullopt;
    return flags;
}

awaitable<status> bring_in(node_context& n, session& s, incoming_key what, key_material& given,
                           json& out) {
    // A certificate's or data object's bytes count against its session's bound.
    auto size = is_key(what.cls) ? 0 : given.view().size();
    if (!room_for(n, s, what.in_session, 1, size)) co_return status::key_limit_exceeded;
    // Checking an RSA-4096 private key costs a generation's share of a
    // thread: imports take their turn with generations.
    auto ticket = co_await n.generations.acquire(fmt::format("user {}", *s.user_id));
    if (!ticket) co_return status::busy;
    // The material stays in the caller's frame, named (g++ 12 mishandles a
    // non-trivial temporary that lives across a co_await): the lambda sees it.
    auto imported = co_await off_thread(n, [c = what.cls, t = what.type, m = given.view()] {
        return import_key_material(c, t, m);
    });
    if (!imported) co_return status::attribute_invalid;
    if (!current(n, s)) co_return status::not_logged_in;
    if (what.in_session && !session_keys_fit(n, s, 1, size)) co_return status::key_limit_exceeded;
    std::vector<generated_key> made;
    made.push_back(std::move(imported->key));
    co_return hand_over(n, s, what.in_session,
                        {{what.type, imported->bits}, what.cls, what.label, what.id, what.flags},
                        made, out);
}

std::int64_t random_handle() {
    auto r = random_bytes(4);
    return (std::int64_t{r[0] & 0x7fU} << 24) | (std::int64_t{r[1]} << 16) |
           (std::int64_t{r[2]} << 8) | r[3];
}

// A handle drawn at random from 31 bits (CK_OBJECT_HANDLE and CMU's handles
// fit it), never one this node holds, reserves or has destroyed, nor
// `besides` (a pair's other half). Nobody can predict or steer another
// user's handle, so no blob generated elsewhere names a key inserted here; a
// draw that another node holds is refused at prepare (RET_CONFLICT), and nothing
// is inserted anywhere.
std::int64_t next_key_handle(const node_context& n, std::int64_t besides) {
    for (int attempt = 0; attempt < 64; ++attempt) {
        auto h = random_handle();
        if (h > 0 && h != besides && !n.store.keys().handle_taken(h) &&
            !n.store.keys().destroyed(h))
            return h;
    }
    throw std::runtime_error("no free key handle in 64 draws");
}

status find_keys(node_context& n, session&, const find_keys_request& r, json& out) {
    auto user = r.user;
    if (!user || !n.store.users().find_id(*user)) return status::user_not_found;
    found_keys found;
    std::string digests;
    for (const auto& k : n.store.keys().keys_of(*user)) {
        found.keys.push_back({k.handle, k.owner == *user});
        digests += key_digest(n, k);
    }
    if (!found.keys.empty() && r.hash) found.hash = to_hex(hmac_sha256(n.keys.digest(), digests));
    out = to_json(found);
    return status::ok;
}

void with_data_bytes(node_context& n, const session& s, const key_record& k, key_summary& out) {
    if (k.cls != key_class::data) return;
    if (auto key = loaded_for(n, s, k)) out.public_key = to_hex(key->secret().view());
}

key_summary summary_of(const node_context& n, const key_record& k) {
    auto owner = n.store.users().find_id(k.owner);
    return {.handle = k.handle,
            .cls = k.cls,
            .type = k.type,
            .bits = k.bits,
            .label = k.label,
            .id = k.id_hex,
            .flags = k.flags,
            .owner = k.owner,
            .owner_name = owner ? owner->name : "",
            .shared = k.shared,
            .digest = key_digest(n, k),
            .public_key = to_hex(k.public_der),
            .token = !is_session_handle(k.handle)};
}

status get_key(node_context& n, session& s, const key_handle_request& r, json& out) {
    auto handle = r.handle;
    auto k = handle ? key_for(n, s, *handle) : std::nullopt;
    if (!k) return status::key_not_found;
    auto who = key_actor_for(s, *k);
    if (auto a = may_read_key(who, k->cls); a != status::ok) return a;
    auto summary = summary_of(n, *k);
    // A data object's bytes are its owner's and its sharers': an officer
    // describes it without them.
    if (who.owner || who.shared) with_data_bytes(n, s, *k, summary);
    out = to_json(summary);
    return status::ok;
}

// A crypto user's own keys and those shared with it, described, a page at a
// time after handle `after` (what a PKCS#11 token shows as its objects).
status list_keys(node_context& n, session& s, const list_keys_request& r, json& out) {
    key_page page;
    std::size_t public_bytes = 0;
    // One more than a page holds, to tell whether there are more: each page
    // reads its own rows alone, not the user's every key.
    for (const auto& k : n.store.keys().keys_of(*s.user_id, r.after, keys_per_page + 1)) {
        page.more = page.keys.size() == keys_per_page;
        if (page.more) break;
        auto summary = summary_of(n, k);
        with_data_bytes(n, s, k, summary); // the user's own, or shared with it
        public_bytes += summary.public_key.size();
        page.more = !page.keys.empty() && public_bytes > public_bytes_per_page;
        if (page.more) break;
        page.keys.push_back(std::move(summary));
    }
    out = to_json(page);
    return status::ok;
}

awaitable<status> use_key(node_context& n, session& s, key_use_request r, json& out) {
    auto use = use_of(r.op);
    auto handle = r.handle;
    auto k = handle ? key_for(n, s, *handle) : std::nullopt;
    if (!k) co_return s.user_id ? status::key_not_found : status::not_logged_in;
    if (auto a = may_use_key(key_actor_for(s, *k), k->cls); a != status::ok) co_return a;
    auto m = r.mech;
    if (!m || !mechanism_fits(*m, use, k->type, k->cls)) co_return status::mechanism_invalid;
    if (!flags_allow(k->flags, *m, use)) co_return status::key_function_not_permitted;
    const auto& data = r.data;
    const auto& signature = r.signature;
    // The node chooses every IV (a caller's would let one who may encrypt
    // but not decrypt re-use a ciphertext's IV and read it): an "iv" field
    // is refused; a decryption takes the IV in front of the ciphertext.
    if (r.iv) co_return status::bad_request;
    const auto& aad = r.aad;
    if (!data || !aad || (use == key_use::verify && !signature)) co_return status::bad_request;
    // A truncated MAC: an HMAC's, at least min_mac_length bytes, at most its whole.
    const auto& cut = r.mac_length;
    if (!cut || (*cut != 0 && (!is_mac(*m) || *cut < std::int64_t{min_mac_length} ||
                               *cut > static_cast<std::int64_t>(mac_size(*m)))))
        co_return status::mechanism_invalid;
    auto key = loaded_for(n, s, *k);
    if (!key) co_return status::internal_error; // the store holds what it sealed
    auto result = co_await key_work(
        n, *s.user_id, [&] { return used(use, *m, *key, r); }, cost_of(*k, use, data->size()));
    if (!result) co_return status::busy;
    if (auto* code = std::get_if<status>(&*result)) co_return *code;
    auto& output = std::get<bytes>(*result);
    if (use != key_use::verify) out = {{"data", to_hex(output)}};
    wipe(output.data(), output.size());
    co_return status::ok;
}

// The key as it is now, sealed for the cluster's nodes (syncKey carries it):
// for an officer, or for its owner.
status get_sealed_key(node_context& n, session& s, const key_handle_request& r, json& out) {
    auto handle = r.handle;
    auto k = handle ? n.store.keys().find(*handle) : std::nullopt;
    if (!k) return s.user_id ? status::key_not_found : status::not_logged_in;
    auto who = key_actor_for(s, *k);
    if (!(who.type && is_officer(*who.type)))
        if (auto a = may_change_key(who, k->cls); a != status::ok) return a;
    auto contents = open_key(n.keys.sealing(), n.identity.cluster_id, k->handle, k->sealed);
    auto owner = n.store.users().find_id(k->owner);
    if (!contents || !owner) return status::internal_error;
    contents->description.label = k->label;
    contents->description.id_hex = k->id_hex;
    contents->description.flags = k->flags;
    contents->description.version = k->version;
    contents->owner_name = owner->name;
    contents->copy = true;
    contents->sealed_at = unix_ms();
    contents->shared_names.clear();
    for (auto id : k->shared)
        if (auto u = n.store.users().find_id(id)) contents->shared_names.push_back(u->name);
    out = to_json(std::vector<sealed_key>{
        {k->handle, k->cls, to_hex(seal_key(n.keys.sealing(), n.identity.cluster_id, *contents))}});
    out["digest"] = key_digest(n, *k);
    return status::ok;
}

// Keys in use stay parsed, up to a bound; an entry is for the material the
// row holds now (its digest), so that a key replaced under its handle is
// parsed anew. A certificate or data object is opened each time, never
// kept: its bytes are read to be listed, not used (512 of the largest data
// objects would be 33 MiB of cache).
std::optional<loaded_key> loaded(node_context& n, const key_record& k) {
    auto it = n.loaded_keys.find(k.handle);
    if (it != n.loaded_keys.end() && it->second.first == k.material_digest)
        return it->second.second;
    auto contents = open_key(n.keys.sealing(), n.identity.cluster_id, k.handle, k.sealed);
    if (!contents) return std::nullopt;
    auto key = loaded_key::load(k.cls, k.type, std::move(contents->material));
    if (!key || !is_key(k.cls)) return key;
    if (n.loaded_keys.size() >= node_context::max_loaded_keys)
        n.loaded_keys.erase(n.loaded_keys.begin());
    n.loaded_keys.insert_or_assign(k.handle, std::pair(k.material_digest, *key));
    return key;
}

status random(node_context&, session&, const random_request& r, json& out) {
    auto count = r.count;
    if (!count || *count < 1 || *count > 4096) return status::bad_request;
    out = {{"data", to_hex(random_bytes(static_cast<std::size_t>(*count)))}};
    return status::ok;
}

} // namespace hsm
