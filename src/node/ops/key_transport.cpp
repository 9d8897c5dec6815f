// SPDX-License-Identifier: Apache-2.0
// Keys that move: a key wrapped (encrypted under another key) for its owner
// to carry away, and a wrapped key unwrapped into a new key, under the wrap
// policy (docs/design.md, "Key transport"; hsmd(8) SECURITY).
#include "ops/key_transport.hpp"
#include "hsmsh/hex.hpp"
#include "ops/session_keys.hpp"
#include "ops/sessions.hpp"

#include <fmt/format.h>

namespace hsm {
namespace {

// Whether what `by` unwraps came in under trust: `by` is trusted, or it is
// an RSA private key whose public half (any copy of it here) is: what was
// wrapped under the trusted public key opens with the private one, which
// an officer cannot trust (it does not wrap; red team, session 22).
bool unwraps_under_trust(const node_context& n, const key_record& by) {
    if (by.flags.trusted) return true;
    if (by.cls != key_class::private_key) return false;
    return std::ranges::any_of(n.store.keys().halves(key_class::public_key, by.public_der),
                               [](const key_record& k) { return k.flags.trusted; });
}

// An unwrapped key's flags: a key brought in's (it was in the clear
// somewhere once), made as the unwrapping key's template says
// (CKA_UNWRAP_TEMPLATE: its class and type are the ones asked, and a flag
// it states is set, unless the request asks the other value: nullopt). A
// key unwrapped under trust is wrapped again only under trusted keys: what
// came in under trust does not leave without it.
std::optional<key_flags> unwrapped_flags(const node_context& n, const unwrap_key_request& r,
                                         const key_record& by) {
    json asked = r.attributes.value_or(json::object());
    if (!asked.is_object()) return std::nullopt;
    if (const auto& t = by.flags.unwrap_template) {
        if ((t->cls && *t->cls != *r.cls) || (t->type && *t->type != *r.type)) return std::nullopt;
        for (const auto& [name, value] : t->flags) {
            if (asked.contains(name) && asked.at(name) != value) return std::nullopt;
            asked[name] = value;
        }
    }
    // Then every rule of a key brought in holds of what the template made.
    auto flags = brought_in_flags(*r.cls, *r.type, asked);
    if (flags && unwraps_under_trust(n, by)) flags->wrap_with_trusted = true;
    return flags;
}

// A key-encryption key is its owner's alone: a user it is shared with
// would unwrap the owner's blobs into keys of his own (red team, session 20).
status may_use_kek(const session& s, const key_record& kek) {
    auto actor = key_actor_for(s, kek);
    if (auto a = may_use_key(actor, kek.cls); a != status::ok) return a;
    return actor.owner ? status::ok : status::key_function_not_permitted;
}

// The wrapping key and the key wrapped, with every rule that joins them.
status wrap_rules(const session& s, const key_record& wrapping, const key_record& target,
                  std::optional<mechanism> m) {
    if (auto a = may_use_kek(s, wrapping); a != status::ok) return a;
    auto owner = key_actor_for(s, target);
    if (auto a = may_use_key(owner, target.cls); a != status::ok) return a;
    // A user a key is shared with may use it, not carry it away.
    if (!owner.owner) return status::key_not_wrappable;
    if (!m || !mechanism_fits(*m, key_use::wrap, wrapping.type, wrapping.cls))
        return status::mechanism_invalid;
    if (!flags_allow(wrapping.flags, *m, key_use::wrap)) return status::key_function_not_permitted;
    // What the wrapping key's template (CKA_WRAP_TEMPLATE) does not describe, it does not wrap.
    if (const auto& t = wrapping.flags.wrap_template;
        t && !template_matches(*t, target.cls, target.type, target.flags))
        return status::key_not_wrappable;
    return may_wrap(target.cls, target.flags, wrapping.flags);
}

// An RSA public key wraps (OAEP) only for a pair made here whose private
// half is its caller's, never leaves and never decrypts: the blob then opens
// through unwrap_key alone. A public key brought in (its private key known
// somewhere), a private half that decrypts, or one that was ever extractable
// (a copy of it could come back in, and decrypt) would let its owner decrypt
// the blob and read the key it wrapped: Tookan's first attack across the
// two halves of a pair.
// Every private half on the node counts, whoever owns it (whoever holds
// one that decrypts could read the blob); they are found by class and
// public part (an index), not by reading all of a user's keys at every
// wrap (red team, session 22: 50 ms a wrap with 3,000 keys, the node's
// other users waiting).
bool rsa_wrapping_pair_holds(const node_context& n, const session& s, const key_record& wrapping) {
    if (wrapping.cls != key_class::public_key) return true;
    auto halves = n.store.keys().halves(key_class::private_key, wrapping.public_der);
    for (const auto& [handle, kept] : s.keys)
        if (kept.record.cls == key_class::private_key &&
            kept.record.public_der == wrapping.public_der)
            halves.push_back(kept.record);
    bool held = false;
    for (const auto& k : halves) {
        if (k.flags.decrypt || !k.flags.never_extractable || !k.flags.local) return false;
        held = held || k.owner == wrapping.owner;
    }
    return held;
}

} // namespace

awaitable<status> wrap_key(node_context& n, session& s, wrap_key_request r, json& out) {
    auto wrapping = r.handle ? key_for(n, s, *r.handle) : std::nullopt;
    auto target = r.key ? key_for(n, s, *r.key) : std::nullopt;
    if (!wrapping || !target) co_return s.user_id ? status::key_not_found : status::not_logged_in;
    if (auto rule = wrap_rules(s, *wrapping, *target, r.mech); rule != status::ok) co_return rule;
    if (!rsa_wrapping_pair_holds(n, s, *wrapping)) co_return status::key_function_not_permitted;
    if (!r.aad) co_return status::bad_request;
    auto kek = loaded_for(n, s, *wrapping);
    auto key = loaded_for(n, s, *target);
    if (!kek || !key) co_return status::internal_error; // the store holds what it sealed
    auto m = *r.mech;
    auto cls = target->cls;
    auto result =
        co_await key_work(n, *s.user_id, [&] { return wrap_material(m, *kek, *r.aad, *key, cls); });
    if (!result) co_return status::busy;
    if (auto* code = std::get_if<status>(&*result)) co_return *code;
    out = {{"data", to_hex(std::get<bytes>(*result))}};
    co_return status::ok;
}

awaitable<status> unwrap_key(node_context& n, session& s, unwrap_key_request r, json& out) {
    if (n.store.meta().state() != cluster_state::active) co_return status::cluster_not_active;
    auto unwrapping = r.handle ? key_for(n, s, *r.handle) : std::nullopt;
    if (!unwrapping) co_return status::key_not_found;
    if (auto a = may_use_kek(s, *unwrapping); a != status::ok) co_return a;
    auto m = r.mech;
    if (!m || !mechanism_fits(*m, key_use::unwrap, unwrapping->type, unwrapping->cls))
        co_return status::mechanism_invalid;
    if (!flags_allow(unwrapping->flags, *m, key_use::unwrap))
        co_return status::key_function_not_permitted;
    if (!r.cls || !r.type || !r.session || !r.data || !r.aad) co_return status::bad_request;
    // Keys alone come in wrapped: a certificate or data object is imported.
    if (*r.cls != key_class::secret_key && *r.cls != key_class::private_key)
        co_return status::attribute_invalid;
    auto flags = unwrapped_flags(n, r, *unwrapping);
    if (!valid_key_label(r.label) || !valid_key_id_hex(r.id) || !flags ||
        !flags_fit(*flags, *r.cls, *r.type))
        co_return status::attribute_invalid;
    auto kek = loaded_for(n, s, *unwrapping);
    if (!kek) co_return status::internal_error;
    auto decrypted =
        co_await key_work(n, *s.user_id, [&] { return decrypt_data(*m, *kek, *r.aad, *r.data); });
    if (!decrypted) co_return status::busy;
    auto& opened = *decrypted;
    if (auto* code = std::get_if<status>(&opened))
        co_return *code == status::encrypted_data_invalid ? status::wrapped_key_invalid : *code;
    key_material given(std::move(std::get<bytes>(opened)));
    incoming_key what{*r.cls, *r.type, r.label, r.id, *flags, *r.session};
    auto brought = co_await bring_in(n, s, what, given, out);
    // What decrypted but is no key of that class and type is no key wrapped.
    co_return brought == status::attribute_invalid ? status::wrapped_key_invalid : brought;
}

awaitable<status> derive_key(node_context& n, session& s, derive_key_request r, json& out) {
    if (n.store.meta().state() != cluster_state::active) co_return status::cluster_not_active;
    auto base = r.handle ? key_for(n, s, *r.handle) : std::nullopt;
    if (!base) co_return status::key_not_found;
    if (auto a = may_use_key(key_actor_for(s, *base), base->cls); a != status::ok) co_return a;
    if (base->type != key_type::ec || base->cls != key_class::private_key)
        co_return status::mechanism_invalid;
    if (!base->flags.derive) co_return status::key_function_not_permitted;
    if (!r.point || !r.shared || !r.cls || !r.type || !r.session || !r.value_len)
        co_return status::bad_request;
    // A secret key comes of it, of the length asked.
    if (*r.cls != key_class::secret_key || *r.value_len < 1 || *r.value_len > 64)
        co_return status::attribute_invalid;
    auto flags = brought_in_flags(*r.cls, *r.type, r.attributes);
    if (!valid_key_label(r.label) || !valid_key_id_hex(r.id) || !flags ||
        !flags_fit(*flags, *r.cls, *r.type))
        co_return status::attribute_invalid;
    auto key = loaded_for(n, s, *base);
    if (!key) co_return status::internal_error;
    auto length = static_cast<std::size_t>(*r.value_len);
    auto derived = co_await key_work(
        n, *s.user_id, [&] { return ecdh_derive(*key, *r.point, r.kdf, *r.shared, length); });
    if (!derived) co_return status::busy;
    if (auto* code = std::get_if<status>(&*derived)) co_return *code;
    key_material given(std::move(std::get<bytes>(*derived)));
    incoming_key what{*r.cls, *r.type, r.label, r.id, *flags, *r.session};
    co_return co_await bring_in(n, s, what, given, out);
}

} // namespace hsm
