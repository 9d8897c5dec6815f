// SPDX-License-Identifier: Apache-2.0
// Key changes on a node: inserting keys generated elsewhere in the cluster,
// destroying and sharing, each prepared and committed like a user change,
// with every rule checked at both steps (docs/design.md, "Keys").
#include "hsmsh/duration.hpp"
#include "hsmsh/hex.hpp"
#include "ops/keys.hpp"
#include "ops/sessions.hpp"

#include <algorithm>
#include <set>

namespace hsm {
namespace {

// The user a share_key names, by this node's id or by its name.
std::optional<user_record> referenced_user(const node_context& n, const user_reference& u) {
    if (const auto* id = std::get_if<std::int64_t>(&u)) return n.store.users().find_id(*id);
    const auto* name = std::get_if<std::string>(&u);
    if (!name || !valid_user_name(*name)) return std::nullopt;
    return n.store.users().find(canonical_user_name(*name));
}

// share_key's users, by name. CMU names users by id, each HSM by its own:
// this node's ids.
status shares_of(const node_context& n, const key_change_request& r, key_change& c) {
    if (!r.share || !r.users) return status::bad_request;
    c.share = *r.share;
    for (const auto& u : *r.users) {
        auto named = referenced_user(n, u);
        if (!named) return status::user_not_found;
        c.users.push_back(named->name);
    }
    return status::ok;
}

// The applying steps of key changes whose rules held (rules_hold).
void insert_new_keys(node_context& n, const key_change& c) {
    for (std::size_t i = 0; i < c.handles.size(); ++i) {
        auto sealed = from_hex(c.sealed[i]);
        auto k = open_key(n.keys.sealing(), n.identity.cluster_id, c.handles[i], *sealed);
        auto owner = n.store.users().find(k->owner_name);
        auto row = std::move(k->description);
        row.owner = owner->id;
        row.sealed = std::move(*sealed);
        row.material_digest = material_digest(n, k->material);
        n.store.keys().insert(row);
    }
}

void replace_key(node_context& n, const key_change& c) {
    auto sealed = from_hex(c.sealed.front());
    auto k = open_key(n.keys.sealing(), n.identity.cluster_id, c.handles.front(), *sealed);
    auto row = std::move(k->description);
    row.owner = n.store.users().find(k->owner_name)->id;
    for (const auto& name : k->shared_names)
        row.shared.push_back(n.store.users().find(name)->id);
    std::ranges::sort(row.shared);
    row.sealed = std::move(*sealed);
    row.material_digest = material_digest(n, k->material);
    n.store.keys().remove(row.handle);
    n.loaded_keys.erase(row.handle);
    n.store.keys().insert(row);
}

void change_shares(node_context& n, const key_change& c) {
    auto k = n.store.keys().find(c.handles.front());
    std::set<std::int64_t> shared(k->shared.begin(), k->shared.end());
    for (const auto& name : c.users) {
        auto id = n.store.users().find(name)->id;
        if (c.share)
            shared.insert(id);
        else
            shared.erase(id);
    }
    n.store.keys().set_shares(k->handle, {shared.begin(), shared.end()});
}

} // namespace

std::pair<status, key_change> plan_key_change(node_context& n, session& s, key_change::kind kind,
                                              const key_change_request& r) {
    key_change c;
    c.what = kind;
    if (!current(n, s)) return {status::not_logged_in, c};
    c.actor_id = *s.user_id;
    c.actor_generation = s.generation;
    c.actor_type = s.type;
    if (kind == key_change::kind::insert_keys || kind == key_change::kind::sync_key) {
        if (!r.keys) return {status::bad_request, c};
        for (const auto& k : *r.keys) {
            c.handles.push_back(k.handle);
            c.sealed.push_back(k.sealed);
        }
    } else {
        if (!r.handle) return {status::key_not_found, c};
        c.handles.push_back(*r.handle);
    }
    if (kind == key_change::kind::share_key) {
        if (auto read = shares_of(n, r, c); read != status::ok) return {read, c};
    }
    if (kind == key_change::kind::set_attribute) {
        const auto& attribute = r.attribute;
        const auto& value = r.value;
        if (!attribute || *attribute < 0 || *attribute > 0xffffffff || !value ||
            value->size() > max_key_label)
            return {status::attribute_invalid, c};
        c.attribute = static_cast<std::uint32_t>(*attribute);
        c.value = *value;
    }
    if (!c.well_formed()) return {status::bad_request, c};
    // One pending change per key; a user with a pending change gets no key.
    for (auto h : c.handles)
        if (n.store.keys().handle_reserved(h)) return {status::conflict, c};
    if (kind == key_change::kind::insert_keys && n.store.changes().reserved(s.user_name))
        return {status::conflict, c};
    return {rules_hold(n, c), std::move(c)};
}

std::string material_digest(const node_context& n, const key_material& m) {
    std::string material(m.view().begin(), m.view().end());
    auto digest = to_hex(hmac_sha256(n.keys.digest(), material));
    wipe(material);
    return digest;
}

namespace {

// The change's actor as key `k` sees it (its owner, a user it is shared
// with, or neither), as at prepare: rules_hold checked the record since.
key_actor actor_in(const key_change& c, const key_record& k) {
    return {c.actor_type, k.owner == c.actor_id,
            std::ranges::find(k.shared, c.actor_id) != k.shared.end()};
}

} // namespace

// Every rule a key change depends on, against the state as it is now. The
// actor is as it was at prepare (a stale session does not act), unless the
// change is decided (a peer committed it): then the actor's own change
// since (a new password, a new generation) does not undo it here, or the
// nodes would differ (red team, session 22).
status rules_hold(const node_context& n, const key_change& c, bool decided) {
    auto actor = n.store.users().find_id(c.actor_id);
    if (!actor || actor->type != c.actor_type ||
        (!decided && actor->generation != c.actor_generation))
        return status::not_logged_in;
    if (n.store.meta().state() != cluster_state::active) return status::cluster_not_active;
    if (c.what == key_change::kind::insert_keys) return insert_rules(n, c, *actor);
    if (c.what == key_change::kind::sync_key) return sync_rules(n, c, *actor);
    auto k = n.store.keys().find(c.handles.front());
    if (!k) return status::key_not_found;
    auto who = actor_in(c, *k);
    if (c.what == key_change::kind::destroy_key) {
        if (auto a = may_change_key(who, k->cls); a != status::ok) return a;
        return k->flags.destroyable ? status::ok : status::key_function_not_permitted;
    }
    if (c.what == key_change::kind::set_attribute)
        return changed_attributes(*k, who, c.attribute, c.value).first;
    if (auto a = may_share_key(who, k->cls); a != status::ok) return a;
    // An application's bytes stay its owner's: a data object shared would
    // put them in another user's listing (and its application's memory)
    // unasked. Shares made before are still taken back.
    if (c.share && k->cls == key_class::data) return status::key_not_shareable;
    std::set<std::int64_t> shared(k->shared.begin(), k->shared.end());
    for (const auto& name : c.users) {
        auto u = n.store.users().find(name);
        if (!u) return status::user_not_found;
        if (u->type != user_type::cu || u->id == k->owner) return status::invalid_user_type;
        if (c.share)
            shared.insert(u->id);
        else
            shared.erase(u->id);
    }
    return shared.size() <= max_key_shares ? status::ok : status::bad_request;
}

// New keys: freshly generated by a node of this cluster for their handles
// (not a copy of a key some node holds, not a generation left waiting),
// owned by the crypto user inserting them, under handles nobody holds,
// within the node's limit and the user's quota.
status insert_rules(const node_context& n, const key_change& c, const user_record& actor) {
    if (actor.type != user_type::cu) return status::permission_denied;
    auto now = unix_ms();
    for (std::size_t i = 0; i < c.handles.size(); ++i) {
        auto sealed = from_hex(c.sealed[i]);
        auto k = sealed ? open_key(n.keys.sealing(), n.identity.cluster_id, c.handles[i], *sealed)
                        : std::nullopt;
        if (!k || k->copy || k->description.version != 1) return status::bad_request;
        if (k->sealed_at + generated_key_lifetime_ms < now ||
            k->sealed_at > now + sealing_clock_skew_ms)
            return status::key_generation_expired;
        if (k->owner_name != actor.name) return status::permission_denied;
        if (n.store.keys().destroyed(c.handles[i])) return status::key_destroyed;
        if (n.store.keys().handle_taken(c.handles[i])) return status::conflict;
    }
    if (n.store.keys().count() + n.store.keys().count_reserved() + c.handles.size() >
        max_keys_per_node)
        return status::key_limit_exceeded;
    if (n.store.keys().count_owned(actor.id) + c.handles.size() > n.key_quota_of(actor))
        return status::key_quota_exceeded;
    return status::ok;
}

// A copy of a key some node holds (syncKey), sealed by this cluster as a
// copy, asked by an officer or by its owner. Where this node holds the
// handle, the copy must be the same key (the same material) with the same
// owner, and newer: a sync never replaces one key by another, never changes
// an owner, never undoes a later change. Where it does not, the key comes in
// whole, for an owner and users that exist here.
status sync_rules(const node_context& n, const key_change& c, const user_record& actor) {
    auto sealed = from_hex(c.sealed.front());
    auto k = sealed ? open_key(n.keys.sealing(), n.identity.cluster_id, c.handles.front(), *sealed)
                    : std::nullopt;
    if (!k || !k->copy) return status::bad_request;
    // A copy is taken to be synced at once: an old one would bring back a
    // key as it was before a change that narrowed it (red team, session 20).
    auto now = unix_ms();
    if (k->sealed_at + generated_key_lifetime_ms < now ||
        k->sealed_at > now + sealing_clock_skew_ms)
        return status::key_generation_expired;
    bool owner = actor.type == user_type::cu && k->owner_name == actor.name;
    if (!is_officer(actor.type) && !owner) return status::permission_denied;
    for (const auto& name : k->shared_names) {
        auto u = n.store.users().find(name);
        if (!u || u->type != user_type::cu) return status::user_not_found;
    }
    auto o = n.store.users().find(k->owner_name);
    if (!o || o->type != user_type::cu) return status::user_not_found;
    if (n.store.keys().destroyed(c.handles.front())) return status::key_destroyed;
    auto existing = n.store.keys().find(c.handles.front());
    if (existing) {
        if (existing->owner != o->id ||
            existing->material_digest != material_digest(n, k->material))
            return status::key_mismatch;
        // The same version again changes nothing (syncKey twice); it
        // passes only when it describes the key exactly as it is here.
        if (existing->version > k->description.version ||
            (existing->version == k->description.version && !same_description(n, *existing, *k)))
            return status::version_newer;
        // Versions count changes per node (a share is one node's): a newer
        // copy still never allows what this node's key no longer does.
        if (!flags_no_looser(k->description.flags, existing->flags))
            return status::attribute_read_only;
        return status::ok;
    }
    if (n.store.keys().count() + n.store.keys().count_reserved() + 1 > max_keys_per_node)
        return status::key_limit_exceeded;
    // A key that comes in whole counts against its owner's quota here too.
    if (n.store.keys().count_owned(o->id) + 1 > n.key_quota_of(*o))
        return status::key_quota_exceeded;
    return status::ok;
}

// Whether a copy describes the key as this node holds it: label, id,
// flags and the users it is shared with.
bool same_description(const node_context& n, const key_record& held, const key_contents& copy) {
    const auto& d = copy.description;
    std::set<std::string> shared;
    for (auto id : held.shared)
        if (auto u = n.store.users().find_id(id)) shared.insert(u->name);
    return held.label == d.label && held.id_hex == d.id_hex &&
           flags_to_json(held.flags) == flags_to_json(d.flags) &&
           shared == std::set<std::string>(copy.shared_names.begin(), copy.shared_names.end());
}

namespace {

// An officer's one change to a key or certificate: whether it is trusted
// (CKA_TRUSTED). A trusted key may wrap keys that ask for trusted wrapping
// keys alone (CKA_WRAP_WITH_TRUSTED), so only a key that may wrap is
// trusted (wrapping is never turned on later); a trusted certificate is
// what applications take as a trust anchor.
std::pair<status, key_record> trusted_by_officer(const key_record& k, const attribute_info& a,
                                                 const std::string& value) {
    auto changed = k;
    if (a.id != key_attribute::trusted) return {status::permission_denied, changed};
    if (!valid_attribute_value(a, value)) return {status::attribute_invalid, changed};
    bool on = value == "1";
    if (on && is_key(k.cls) && !k.flags.wrap) return {status::key_function_not_permitted, changed};
    changed.flags.trusted = on;
    return {status::ok, changed};
}

} // namespace

// What setting one attribute makes of a key's flags and label, or why not:
// its owner changes its label, id and flags; an officer trusts it or stops
// trusting it, and changes nothing else.
std::pair<status, key_record> changed_attributes(const key_record& k, const key_actor& who,
                                                 std::uint32_t id, const std::string& value) {
    auto changed = k;
    const auto* a = find_key_attribute(id);
    if (!a) return {status::attribute_invalid, changed};
    if (who.type && is_officer(*who.type) && (is_key(k.cls) || k.cls == key_class::certificate))
        return trusted_by_officer(k, *a, value);
    if (auto may = may_change_key(who, k.cls); may != status::ok) return {may, changed};
    if (!a->settable) return {status::attribute_read_only, changed};
    if (!valid_attribute_value(*a, value)) return {status::attribute_invalid, changed};
    // A data object has no CKA_ID, and no object that is not a key any flag.
    if (k.cls == key_class::data && a->id == key_attribute::id)
        return {status::attribute_read_only, changed};
    if (a->id == key_attribute::label || a->id == key_attribute::id) {
        (a->id == key_attribute::label ? changed.label : changed.id_hex) = value;
        return {status::ok, changed};
    }
    if (!is_key(k.cls)) return {status::attribute_read_only, changed};
    // Only an officer trusts a key (CKA_TRUSTED) or stops trusting it: an
    // owner who cleared it could unwrap what left under trust into a key
    // that no longer asks for it (red team, session 22). A key wrapped with
    // trusted keys only stays so.
    if (a->id == key_attribute::trusted ||
        (a->id == key_attribute::wrap_with_trusted && k.flags.wrap_with_trusted && value == "0"))
        return {status::attribute_read_only, changed};
    bool on = value == "1";
    if (!may_turn(*a, k.type, on) && !(k.flags.*(a->flag)))
        return {status::attribute_read_only, changed};
    changed.flags.*(a->flag) = on;
    // Taking a use away stands even on a key made before a rule.
    bool fits = only_narrows(*a, on) || flags_fit(changed.flags, k.cls, k.type);
    return {fits ? status::ok : status::attribute_invalid, changed};
}

void apply_key_change(node_context& n, const key_change& c) {
    switch (c.what) {
    case key_change::kind::insert_keys:
        insert_new_keys(n, c);
        break;
    case key_change::kind::sync_key:
        replace_key(n, c);
        break;
    case key_change::kind::set_attribute: {
        auto k = n.store.keys().find(c.handles.front());
        auto changed = changed_attributes(*k, actor_in(c, *k), c.attribute, c.value).second;
        n.store.keys().update(changed.handle, changed.flags, changed.label, changed.id_hex);
        break;
    }
    case key_change::kind::destroy_key:
        n.store.keys().destroy(c.handles.front());
        n.loaded_keys.erase(c.handles.front()); // no copy of it stays in memory
        break;
    case key_change::kind::share_key:
        change_shares(n, c);
        break;
    }
}

} // namespace hsm
