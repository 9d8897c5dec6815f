// SPDX-License-Identifier: Apache-2.0
// Keys on a node: generation, insertion through prepare/commit, use,
// sharing, destruction and the user rules that depend on keys.
#include "hsmsh/duration.hpp"
#include "hsmsh/hex.hpp"
#include "hsmsh/sealing.hpp"
#include "memory_node.hpp"

#include <algorithm>

#include <doctest/doctest.h>
#include <fmt/format.h>

using namespace hsm;
using test::node_fixture;

namespace {

// A node with an officer and two crypto users, alice and bob, logged in.
struct key_fixture : node_fixture {
    session admin = activated();
    session alice, bob;

    key_fixture() {
        REQUIRE(create(admin, "CU", "alice") == status::ok);
        REQUIRE(create(admin, "CU", "bob") == status::ok);
        REQUIRE(login(alice, "CU", "alice", "password1") == status::ok);
        REQUIRE(login(bob, "CU", "bob", "password1") == status::ok);
    }
    reply use(session& s, operation op, std::int64_t handle, std::string_view mechanism,
              std::string_view data_hex, json more = json::object()) {
        more["handle"] = handle;
        more["mechanism"] = mechanism;
        more["data"] = data_hex;
        return call(s, op, more);
    }
    status share(session& s, std::int64_t handle, json users, bool on) {
        return prepared(s, {{"change", "share_key"},
                            {"handle", handle},
                            {"users", std::move(users)},
                            {"share", on}});
    }
    std::int64_t id_of(std::string_view name) { return store.users().find(name)->id; }
};

const std::string message = "746865206461746120746f207369676e";

} // namespace

TEST_CASE(
    "a crypto user generates an EC pair, signs with the private key, verifies with the public") {
    key_fixture n;
    auto handles = n.new_keys(n.alice, "ec:p256", {{"label", "signer"}, {"id", "0102"}});
    REQUIRE(handles.size() == 2);
    auto info = n.call(n.alice, operation::get_key, {{"handle", handles[0]}});
    REQUIRE(info.code == status::ok);
    auto k = key_summary_from(info.fields);
    REQUIRE(k);
    CHECK(k->cls == key_class::private_key);
    CHECK(k->label == "signer");
    CHECK(k->id == "0102");
    CHECK(k->owner_name == "alice");
    CHECK_FALSE(k->flags.extractable);
    CHECK_FALSE(k->public_key.empty());
    CHECK(info.fields.dump().find("material") == std::string::npos);
    auto sig = n.use(n.alice, operation::sign, handles[0], "ecdsa-sha256", message);
    REQUIRE(sig.code == status::ok);
    auto signature = sig.fields.at("data").get<std::string>();
    CHECK(n.use(n.alice, operation::verify, handles[1], "ecdsa-sha256", message,
                {{"signature", signature}})
              .code == status::ok);
    CHECK(n.use(n.alice, operation::verify, handles[1], "ecdsa-sha256", "78",
                {{"signature", signature}})
              .code == status::signature_invalid);
    // The wrong key, mechanism or use is refused before anything is computed.
    CHECK(n.use(n.alice, operation::sign, handles[1], "ecdsa-sha256", message).code ==
          status::mechanism_invalid);
    CHECK(n.use(n.alice, operation::sign, handles[0], "rsa-pss-sha256", message).code ==
          status::mechanism_invalid);
    CHECK(n.use(n.alice, operation::sign, handles[0], "ecdsa-sha256", "zz").code ==
          status::bad_request);
    // ECDSA over SHA-1, SHA-224 and SHA-512 too, each verifying only its own
    // digest's signatures; a MAC's length means nothing to a signature.
    for (auto name : {"ecdsa-sha1", "ecdsa-sha224", "ecdsa-sha512"}) {
        auto s = n.use(n.alice, operation::sign, handles[0], name, message);
        REQUIRE(s.code == status::ok);
        json with{{"signature", s.fields.at("data")}};
        CHECK(n.use(n.alice, operation::verify, handles[1], name, message, with).code ==
              status::ok);
        CHECK(n.use(n.alice, operation::verify, handles[1], "ecdsa-sha256", message, with).code ==
              status::signature_invalid);
    }
    CHECK(n.use(n.alice, operation::sign, handles[0], "ecdsa-sha256", message, {{"mac_length", 12}})
              .code == status::mechanism_invalid);
}

TEST_CASE("officers manage keys and never use them; other users do not see them") {
    key_fixture n;
    auto handles = n.new_keys(n.alice, "ec:p384");
    REQUIRE(handles.size() == 2);
    CHECK(n.call(n.admin, operation::generate_key, {{"spec", "aes:256"}}).code ==
          status::permission_denied);
    CHECK(n.use(n.admin, operation::sign, handles[0], "ecdsa-sha384", message).code ==
          status::permission_denied);
    CHECK(n.use(n.bob, operation::sign, handles[0], "ecdsa-sha384", message).code ==
          status::key_not_found);
    CHECK(n.use(n.bob, operation::sign, 999, "ecdsa-sha384", message).code ==
          status::key_not_found);
    auto found =
        n.call(n.admin, operation::find_keys, {{"user", n.id_of("alice")}, {"hash", true}});
    REQUIRE(found.code == status::ok);
    auto f = found_keys_from(found.fields);
    REQUIRE(f);
    REQUIRE(f->keys.size() == 2);
    CHECK(f->keys[0].owned);
    CHECK(f->hash.size() == 64);
    CHECK(n.call(n.alice, operation::find_keys, {{"user", n.id_of("alice")}}).code ==
          status::permission_denied);
    CHECK(n.call(n.admin, operation::get_key, {{"handle", handles[0]}}).code == status::ok);
    CHECK(n.call(n.bob, operation::get_key, {{"handle", handles[0]}}).code ==
          status::key_not_found);
    // Every crypto user may use a public key.
    CHECK(n.call(n.bob, operation::get_key, {{"handle", handles[1]}}).code == status::ok);
}

TEST_CASE("the owner shares and unshares; a share ends with its user") {
    key_fixture n;
    auto handles = n.new_keys(n.alice, "rsa:2048");
    REQUIRE(handles.size() == 2);
    auto priv = handles[0];
    CHECK(n.share(n.bob, priv, {"alice"}, true) == status::key_not_found);
    CHECK(n.share(n.alice, handles[1], {"bob"}, true) == status::key_not_shareable);
    CHECK(n.share(n.alice, priv, {"admin"}, true) == status::invalid_user_type);
    CHECK(n.share(n.alice, priv, {"nobody"}, true) == status::user_not_found);
    REQUIRE(n.share(n.alice, priv, json::array({n.id_of("bob")}), true) == status::ok);
    CHECK(n.use(n.bob, operation::sign, priv, "rsa-pss-sha256", message).code == status::ok);
    // A user a key is shared with uses it, and cannot pass it on or destroy it.
    CHECK(n.share(n.bob, priv, {"bob"}, false) == status::permission_denied);
    CHECK(n.prepared(n.bob, {{"change", "destroy_key"}, {"handle", priv}}) ==
          status::permission_denied);
    REQUIRE(n.share(n.alice, priv, {"bob"}, false) == status::ok);
    CHECK(n.use(n.bob, operation::sign, priv, "rsa-pss-sha256", message).code ==
          status::key_not_found);
    REQUIRE(n.share(n.alice, priv, {"bob"}, true) == status::ok);
    REQUIRE(n.call(n.bob, operation::logout).code == status::ok);
    REQUIRE(n.remove(n.admin, "CU", "bob") == status::ok);
    CHECK(key_summary_from(n.call(n.alice, operation::get_key, {{"handle", priv}}).fields)
              ->shared.empty());
    // The owner cannot be deleted while it owns keys; once they are destroyed it can.
    REQUIRE(n.call(n.alice, operation::logout).code == status::ok);
    CHECK(n.remove(n.admin, "CU", "alice") == status::user_owns_keys);
    REQUIRE(n.login(n.alice, "CU", "alice", "password1") == status::ok);
    for (auto h : handles)
        REQUIRE(n.prepared(n.alice, {{"change", "destroy_key"}, {"handle", h}}) == status::ok);
    CHECK(n.call(n.alice, operation::get_key, {{"handle", priv}}).code == status::key_not_found);
    REQUIRE(n.call(n.alice, operation::logout).code == status::ok);
    CHECK(n.remove(n.admin, "CU", "alice") == status::ok);
}

TEST_CASE("secret keys: AES-GCM and HMAC, and attributes that forbid a use") {
    key_fixture n;
    auto aes = n.new_keys(n.alice, "aes:256", {{"attributes", {{"decrypt", false}}}});
    REQUIRE(aes.size() == 1);
    auto sealed = n.use(n.alice, operation::encrypt, aes[0], "aes-gcm", message, {{"aad", "01"}});
    REQUIRE(sealed.code == status::ok);
    CHECK(n.use(n.alice, operation::decrypt, aes[0], "aes-gcm",
                sealed.fields.at("data").get<std::string>())
              .code == status::key_function_not_permitted);
    auto both = n.new_keys(n.alice, "aes:128");
    auto c = n.use(n.alice, operation::encrypt, both[0], "aes-gcm", message, {{"aad", "01"}});
    auto text = c.fields.at("data").get<std::string>();
    auto plain = n.use(n.alice, operation::decrypt, both[0], "aes-gcm", text, {{"aad", "01"}});
    REQUIRE(plain.code == status::ok);
    CHECK(plain.fields.at("data") == message);
    text.back() = text.back() == '0' ? '1' : '0';
    CHECK(n.use(n.alice, operation::decrypt, both[0], "aes-gcm", text, {{"aad", "01"}}).code ==
          status::encrypted_data_invalid);
    // ECB, and CBC and CTR under the caller's IV, give the cipher itself:
    // only with a key that may decrypt as well as encrypt.
    const std::string iv(32, '0');
    const std::string block(32, 'a');
    for (auto mode : {"aes-ecb", "aes-cbc", "aes-cbc-pad", "aes-ctr"}) {
        std::string in = std::string_view(mode) == "aes-ecb" ? block : iv + block;
        CHECK(n.use(n.alice, operation::encrypt, aes[0], mode, in).code ==
              status::key_function_not_permitted);
        auto e = n.use(n.alice, operation::encrypt, both[0], mode, in);
        REQUIRE(e.code == status::ok);
        auto back = n.use(n.alice, operation::decrypt, both[0], mode,
                          (std::string_view(mode) == "aes-ecb" ? "" : iv) +
                              e.fields.at("data").get<std::string>());
        REQUIRE(back.code == status::ok);
        CHECK(back.fields.at("data") == block);
    }
    CHECK(n.use(n.alice, operation::encrypt, both[0], "aes-ecb", "00").code == status::bad_request);
    // A block of 0xaa unpadded, read as padded: its last byte pads nothing.
    auto unpadded = n.use(n.alice, operation::encrypt, both[0], "aes-cbc", iv + block);
    REQUIRE(unpadded.code == status::ok);
    CHECK(n.use(n.alice, operation::decrypt, both[0], "aes-cbc-pad",
                iv + unpadded.fields.at("data").get<std::string>())
              .code == status::encrypted_data_invalid);
    auto mac = n.new_keys(n.alice, "hmac:256");
    auto tag = n.use(n.alice, operation::sign, mac[0], "hmac-sha256", message);
    REQUIRE(tag.code == status::ok);
    CHECK(n.use(n.alice, operation::verify, mac[0], "hmac-sha256", message,
                {{"signature", tag.fields.at("data")}})
              .code == status::ok);
    // Each HMAC has its digest's length; a truncated one (PKCS#11's _GENERAL)
    // is the whole one's first bytes, at least 12 of them, and verifies only
    // at the length asked.
    for (auto [name, size] : {std::pair{"hmac-sha1", 20},
                              {"hmac-sha224", 28},
                              {"hmac-sha384", 48},
                              {"hmac-sha512", 64}}) {
        auto whole = n.use(n.alice, operation::sign, mac[0], name, message);
        REQUIRE(whole.code == status::ok);
        CHECK(whole.fields.at("data").get<std::string>().size() == 2 * std::size_t(size));
    }
    auto full = tag.fields.at("data").get<std::string>();
    auto cut =
        n.use(n.alice, operation::sign, mac[0], "hmac-sha256", message, {{"mac_length", 12}});
    REQUIRE(cut.code == status::ok);
    CHECK(cut.fields.at("data") == full.substr(0, 24));
    auto verify_cut = [&](const std::string& signature, json length) {
        return n
            .use(n.alice, operation::verify, mac[0], "hmac-sha256", message,
                 {{"signature", signature}, {"mac_length", std::move(length)}})
            .code;
    };
    CHECK(verify_cut(full.substr(0, 24), 12) == status::ok);
    CHECK(verify_cut(full.substr(0, 26), 12) == status::signature_invalid);
    CHECK(verify_cut(full.substr(0, 22), 11) == status::mechanism_invalid);
    CHECK(verify_cut(full, 33) == status::mechanism_invalid);
    CHECK(verify_cut(full.substr(0, 24), "12") == status::mechanism_invalid);
    CHECK(n.use(n.alice, operation::sign, mac[0], "hmac-sha256", message, {{"mac_length", 11}})
              .code == status::mechanism_invalid);
    CHECK(n.call(n.alice, operation::generate_key,
                 {{"spec", "aes:256"}, {"attributes", {{"sign", true}}}})
              .code == status::attribute_invalid);
    // An extractable key is made so, and says it was never anything else.
    auto extractable =
        n.new_keys(n.alice, "aes:128", {{"attributes", {{"extractable", true}}}}).at(0);
    auto made =
        key_summary_from(n.call(n.alice, operation::get_key, {{"handle", extractable}}).fields);
    REQUIRE(made);
    CHECK(made->flags.extractable);
    CHECK_FALSE(made->flags.never_extractable);
    auto kept = n.new_keys(n.alice, "aes:128", {{"attributes", {{"destroyable", false}}}});
    CHECK(n.prepared(n.alice, {{"change", "destroy_key"}, {"handle", kept[0]}}) ==
          status::key_function_not_permitted);
}

TEST_CASE("an inserted key is the one the cluster sealed, for its owner, under a free handle") {
    key_fixture n;
    auto g = n.call(n.alice, operation::generate_key, {{"spec", "aes:128"}});
    REQUIRE(g.code == status::ok);
    auto keys = g.fields.at("keys");
    // Bob cannot take alice's key as his own, nor can anyone alter one.
    CHECK(n.prepared(n.bob, {{"change", "insert_keys"}, {"keys", keys}}) ==
          status::permission_denied);
    auto altered = keys;
    auto& hex = altered[0]["sealed"].get_ref<std::string&>();
    hex[40] = hex[40] == 'a' ? 'b' : 'a';
    CHECK(n.prepared(n.alice, {{"change", "insert_keys"}, {"keys", altered}}) ==
          status::bad_request);
    auto moved = keys;
    moved[0]["handle"] = 4242;
    CHECK(n.prepared(n.alice, {{"change", "insert_keys"}, {"keys", moved}}) == status::bad_request);
    REQUIRE(n.prepared(n.alice, {{"change", "insert_keys"}, {"keys", keys}}) == status::ok);
    CHECK(n.prepared(n.alice, {{"change", "insert_keys"}, {"keys", keys}}) == status::conflict);
    // The database alone reveals nothing: the material is sealed.
    auto handle = keys[0]["handle"].get<std::int64_t>();
    auto row = n.store.keys().find(handle);
    REQUIRE(row);
    cluster_keys same(bytes(sealing_key_size, 7));
    auto opened = open_key(same.sealing(), "cluster-t", handle, row->sealed);
    REQUIRE(opened);
    auto material = opened->material.view();
    CHECK(std::ranges::search(row->sealed, material).empty());
    cluster_keys other(bytes(sealing_key_size, 8));
    CHECK_FALSE(open_key(other.sealing(), "cluster-t", handle, row->sealed));
    CHECK_FALSE(open_key(same.sealing(), "cluster-u", handle, row->sealed));
    // A key sealed in the first form (its material as hex inside the JSON)
    // still opens, to the same key; a first-form blob under the second
    // form's name does not.
    auto first_form = [&](int version) {
        auto plain = json{{"handle", handle},
                          {"class", "secret"},
                          {"type", "aes"},
                          {"bits", 128},
                          {"label", ""},
                          {"id", ""},
                          {"flags", flags_to_json(opened->description.flags)},
                          {"version", 1},
                          {"owner", "alice"},
                          {"shared", json::array()},
                          {"public", ""},
                          {"material", to_hex(material)}}
                         .dump();
        return seal(same.sealing(),
                    fmt::format("hsmsh sealed key v{}\x1f"
                                "cluster-t\x1f{}",
                                version, handle),
                    plain);
    };
    auto old = open_key(same.sealing(), "cluster-t", handle, first_form(1));
    REQUIRE(old);
    CHECK(std::ranges::equal(old->material.view(), material));
    CHECK(old->owner_name == "alice");
    CHECK_FALSE(open_key(same.sealing(), "cluster-t", handle, first_form(2)));
}

TEST_CASE("a node holds at most 3300 keys, counting prepared ones") {
    key_fixture n;
    n.service.set_key_quota(max_keys_per_node);
    auto g = n.call(n.alice, operation::generate_key, {{"spec", "aes:128"}});
    REQUIRE(g.code == status::ok);
    auto row = n.store.keys().find(n.new_keys(n.alice, "aes:128").at(0));
    n.store.transact([&] {
        for (auto i = n.store.keys().count(); i < max_keys_per_node - 1; ++i) {
            auto copy = *row;
            copy.handle = 100000 + static_cast<std::int64_t>(i);
            n.store.keys().insert(copy);
        }
    });
    REQUIRE(n.store.keys().count() == max_keys_per_node - 1);
    // One left: a prepared insertion takes it, so the next one is refused.
    json fields{{"txid", random_hex(16)}, {"change", "insert_keys"}, {"keys", g.fields.at("keys")}};
    REQUIRE(n.call(n.alice, operation::prepare, fields).code == status::ok);
    CHECK(n.call(n.alice, operation::generate_key, {{"spec", "aes:128"}}).code ==
          status::key_limit_exceeded);
    CHECK(n.call(n.alice, operation::commit, {{"txid", fields["txid"]}}).code == status::ok);
    CHECK(n.store.keys().count() == max_keys_per_node);
}

TEST_CASE("a user with a pending key insertion cannot be deleted") {
    key_fixture n;
    auto g = n.call(n.alice, operation::generate_key, {{"spec", "aes:128"}});
    json fields{{"txid", random_hex(16)}, {"change", "insert_keys"}, {"keys", g.fields.at("keys")}};
    REQUIRE(n.call(n.alice, operation::prepare, fields).code == status::ok);
    REQUIRE(n.call(n.alice, operation::logout).code == status::ok);
    CHECK(n.remove(n.admin, "CU", "alice") == status::user_owns_keys);
    CHECK(n.call(n.admin, operation::abort, {{"txid", fields["txid"]}}).code == status::ok);
    CHECK(n.remove(n.admin, "CU", "alice") == status::ok);
}

TEST_CASE("an officer trusts a key that wraps (CKA_TRUSTED), and changes nothing else") {
    key_fixture n;
    auto kek =
        n.new_keys(n.alice, "aes:256",
                   {{"attributes",
                     {{"wrap", true}, {"unwrap", true}, {"encrypt", false}, {"decrypt", false}}}})
            .at(0);
    auto guarded =
        n.new_keys(n.alice, "hmac:256",
                   {{"attributes", {{"extractable", true}, {"wrap_with_trusted", true}}}})
            .at(0);
    auto mac = n.new_keys(n.alice, "hmac:256").at(0);
    auto set = [&](session& s, std::int64_t handle, std::uint32_t id, std::string value) {
        return n.prepared(s, {{"change", "set_attribute"},
                              {"handle", handle},
                              {"attribute", id},
                              {"value", std::move(value)}});
    };
    auto wrap = [&] {
        return n
            .call(n.alice, operation::wrap_key,
                  {{"handle", kek}, {"key", guarded}, {"mechanism", "aes-key-wrap-pad"}})
            .code;
    };
    CHECK(wrap() == status::key_not_wrappable);
    // Not the owner, nor another crypto user.
    CHECK(set(n.alice, kek, 134, "1") == status::attribute_read_only);
    CHECK(set(n.bob, kek, 134, "1") == status::key_not_found);
    // The officer: trust alone, on a key that may wrap.
    CHECK(set(n.admin, kek, 264, "1") == status::permission_denied);
    CHECK(set(n.admin, kek, 3, "officer's") == status::permission_denied);
    CHECK(set(n.admin, kek, 354, "1") == status::permission_denied);
    CHECK(set(n.admin, mac, 134, "1") == status::key_function_not_permitted);
    CHECK(set(n.admin, kek, 134, "yes") == status::attribute_invalid);
    REQUIRE(set(n.admin, kek, 134, "1") == status::ok);
    CHECK(n.described(n.alice, kek).flags.trusted);
    CHECK(n.described(n.alice, kek).label.empty());
    CHECK(wrap() == status::ok);
    // Nor may the owner take the trust back (it could then unwrap what left
    // under trust into a key that no longer asks for it); an officer may.
    CHECK(set(n.alice, kek, 134, "0") == status::attribute_read_only);
    REQUIRE(set(n.admin, kek, 134, "0") == status::ok);
    CHECK_FALSE(n.described(n.alice, kek).flags.trusted);
    CHECK(wrap() == status::key_not_wrappable);
}

TEST_CASE("a key-encryption key wraps what its wrap template describes and unwraps into what "
          "its unwrap template says") {
    key_fixture n;
    json kek_attributes{
        {"wrap", true},
        {"unwrap", true},
        {"encrypt", false},
        {"decrypt", false},
        {"wrap_template", {{"class", "secret"}, {"type", "generic_secret"}}},
        {"unwrap_template", {{"type", "generic_secret"}, {"sign", true}, {"verify", false}}}};
    auto kek = n.new_keys(n.alice, "aes:256", {{"attributes", kek_attributes}}).at(0);
    auto held = n.described(n.alice, kek).flags;
    REQUIRE(held.wrap_template);
    CHECK(held.wrap_template->type == key_type::generic_secret);
    CHECK(held.unwrap_template->flags ==
          std::map<std::string, bool, std::less<>>{{"sign", true}, {"verify", false}});
    auto mac = n.new_keys(n.alice, "hmac:256", {{"attributes", {{"extractable", true}}}}).at(0);
    auto aes = n.new_keys(n.alice, "aes:128", {{"attributes", {{"extractable", true}}}}).at(0);
    auto wrap = [&](std::int64_t key) {
        return n.call(n.alice, operation::wrap_key,
                      {{"handle", kek}, {"key", key}, {"mechanism", "aes-key-wrap-pad"}});
    };
    CHECK(wrap(aes).code == status::key_not_wrappable);
    auto wrapped = wrap(mac);
    REQUIRE(wrapped.code == status::ok);
    auto unwrap = [&](std::string_view type, json attributes) {
        json fields{{"handle", kek},
                    {"mechanism", "aes-key-wrap-pad"},
                    {"data", wrapped.fields.at("data")},
                    {"class", "secret"},
                    {"type", type}};
        if (!attributes.is_null()) fields["attributes"] = std::move(attributes);
        return n.call(n.alice, operation::unwrap_key, fields);
    };
    // Made as the template says, whatever the request leaves unsaid...
    auto made = unwrap("generic_secret", json());
    REQUIRE(made.code == status::ok);
    auto copy = made.fields.at("keys").at(0).at("handle").get<std::int64_t>();
    REQUIRE(n.prepared(n.alice, {{"change", "insert_keys"}, {"keys", made.fields.at("keys")}}) ==
            status::ok);
    auto f = n.described(n.alice, copy).flags;
    CHECK((f.sign && !f.verify && !f.extractable && !f.local));
    CHECK(unwrap("generic_secret", {{"sign", true}, {"label_ignored", 1}}).code ==
          status::attribute_invalid);
    CHECK(unwrap("generic_secret", {{"sign", true}}).code == status::ok);
    // ...and never against it: another value, or another type.
    CHECK(unwrap("generic_secret", {{"verify", true}}).code == status::attribute_invalid);
    CHECK(unwrap("aes", json()).code == status::attribute_invalid);
    // A template is a key-encryption key's, fixed when it is made, and well formed.
    auto refused = [&](std::string_view spec, json attributes) {
        return n
            .call(n.alice, operation::generate_key,
                  {{"spec", spec}, {"attributes", std::move(attributes)}})
            .code;
    };
    CHECK(refused("hmac:256", {{"wrap_template", json::object()}}) == status::attribute_invalid);
    auto with = [&](json tmpl) {
        auto a = kek_attributes;
        a["wrap_template"] = std::move(tmpl);
        return a;
    };
    CHECK(refused("aes:256", with({{"sign", "yes"}})) == status::attribute_invalid);
    CHECK(refused("aes:256", with({{"colour", true}})) == status::attribute_invalid);
    CHECK(refused("aes:256", with({{"class", "secrets"}})) == status::attribute_invalid);
    CHECK(refused("aes:256", with({{"wrap_template", json::object()}})) ==
          status::attribute_invalid);
    CHECK(n.prepared(n.alice, {{"change", "set_attribute"},
                               {"handle", kek},
                               {"attribute", 1073742353u},
                               {"value", "1"}}) == status::attribute_read_only);
    // Wrapping turned off leaves the template, unused, and the key still
    // travels whole (red team, session 22: its sealed copy was refused).
    REQUIRE(n.prepared(n.alice, {{"change", "set_attribute"},
                                 {"handle", kek},
                                 {"attribute", 262},
                                 {"value", "0"}}) == status::ok);
    auto sealed = n.call(n.alice, operation::get_sealed_key, {{"handle", kek}});
    REQUIRE(sealed.code == status::ok);
    cluster_keys same(bytes(sealing_key_size, 7));
    auto copy_of_kek = open_key(same.sealing(), "cluster-t", kek,
                                *from_hex(sealed_keys_from(sealed.fields)->front().sealed));
    REQUIRE(copy_of_kek);
    CHECK(copy_of_kek->description.flags.wrap_template);
    CHECK_FALSE(copy_of_kek->description.flags.wrap);
}

TEST_CASE("an RSA pair made to carry keys wraps by OAEP and unwraps, and no other pair does") {
    key_fixture n;
    auto pair =
        n.new_keys(n.alice, "rsa:2048", {{"attributes", {{"unwrap", true}, {"decrypt", false}}}});
    REQUIRE(pair.size() == 2);
    auto priv = pair[0], pub = pair[1];
    if (n.described(n.alice, priv).cls != key_class::private_key) std::swap(priv, pub);
    auto pub_flags = n.described(n.alice, pub).flags;
    CHECK((pub_flags.wrap && !pub_flags.encrypt && pub_flags.verify));
    auto mac = n.new_keys(n.alice, "hmac:256", {{"attributes", {{"extractable", true}}}}).at(0);
    auto wrap = [&](std::int64_t kek, std::string_view mechanism = "rsa-oaep-sha256") {
        return n.call(n.alice, operation::wrap_key,
                      {{"handle", kek}, {"key", mac}, {"mechanism", mechanism}});
    };
    auto blob = wrap(pub);
    REQUIRE(blob.code == status::ok);
    CHECK(wrap(pub, "rsa-oaep-sha1").code == status::ok);
    CHECK(wrap(priv).code == status::mechanism_invalid); // the private half unwraps
    auto made = n.call(n.alice, operation::unwrap_key,
                       {{"handle", priv},
                        {"mechanism", "rsa-oaep-sha256"},
                        {"data", blob.fields.at("data")},
                        {"class", "secret"},
                        {"type", "generic_secret"},
                        {"attributes", {{"sign", true}}}});
    REQUIRE(made.code == status::ok);
    REQUIRE(n.prepared(n.alice, {{"change", "insert_keys"}, {"keys", made.fields.at("keys")}}) ==
            status::ok);
    auto copy = made.fields.at("keys").at(0).at("handle").get<std::int64_t>();
    CHECK(n.use(n.alice, operation::sign, copy, "hmac-sha256", message).fields ==
          n.use(n.alice, operation::sign, mac, "hmac-sha256", message).fields);
    // The private half of a wrapping pair never decrypts, nor is it ever
    // extractable (a copy of it could come back in, and decrypt)...
    CHECK(n.call(n.alice, operation::generate_key,
                 {{"spec", "rsa:2048"}, {"attributes", {{"unwrap", true}, {"decrypt", true}}}})
              .code == status::attribute_invalid);
    auto loose =
        n.new_keys(n.alice, "rsa:2048",
                   {{"attributes", {{"unwrap", true}, {"decrypt", false}, {"extractable", true}}}});
    auto loose_pub =
        n.described(n.alice, loose[1]).cls == key_class::public_key ? loose[1] : loose[0];
    CHECK(wrap(loose_pub).code == status::key_function_not_permitted);
    // ...and a public key that wraps with no such half here (its private key
    // decrypts, or is elsewhere) wraps nothing: the blob would decrypt.
    auto plain = n.new_keys(n.alice, "rsa:2048");
    auto plain_pub =
        n.described(n.alice, plain[1]).cls == key_class::public_key ? plain[1] : plain[0];
    CHECK(wrap(plain_pub).code == status::key_function_not_permitted);
    auto imported = n.call(n.alice, operation::import_key,
                           {{"class", "public"},
                            {"type", "rsa"},
                            {"material", n.described(n.alice, plain_pub).public_key},
                            {"attributes", {{"wrap", true}, {"encrypt", false}}}});
    REQUIRE(imported.code == status::ok);
    REQUIRE(n.prepared(n.alice, {{"change", "insert_keys"},
                                 {"keys", imported.fields.at("keys")}}) == status::ok);
    auto imported_pub = imported.fields.at("keys").at(0).at("handle").get<std::int64_t>();
    CHECK(wrap(imported_pub).code == status::key_function_not_permitted);
    // What left under a trusted public key comes back asking for trust
    // again, though the private half that unwraps it is not trusted (red
    // team, session 22: it came back without, and left under a key of the
    // user's own).
    REQUIRE(n.prepared(n.admin, {{"change", "set_attribute"},
                                 {"handle", pub},
                                 {"attribute", 134},
                                 {"value", "1"}}) == status::ok);
    auto guarded =
        n.new_keys(n.alice, "hmac:256",
                   {{"attributes", {{"extractable", true}, {"wrap_with_trusted", true}}}})
            .at(0);
    auto left = n.call(n.alice, operation::wrap_key,
                       {{"handle", pub}, {"key", guarded}, {"mechanism", "rsa-oaep-sha256"}});
    REQUIRE(left.code == status::ok);
    auto back = n.call(
        n.alice, operation::unwrap_key,
        {{"handle", priv},
         {"mechanism", "rsa-oaep-sha256"},
         {"data", left.fields.at("data")},
         {"class", "secret"},
         {"type", "generic_secret"},
         {"attributes", {{"sign", true}, {"extractable", true}, {"wrap_with_trusted", false}}}});
    REQUIRE(back.code == status::ok);
    REQUIRE(n.prepared(n.alice, {{"change", "insert_keys"}, {"keys", back.fields.at("keys")}}) ==
            status::ok);
    auto returned = back.fields.at("keys").at(0).at("handle").get<std::int64_t>();
    CHECK(n.described(n.alice, returned).flags.wrap_with_trusted);
}

TEST_CASE("the owner changes settable attributes; the rest are read-only") {
    key_fixture n;
    auto mac = n.new_keys(n.alice, "hmac:256").at(0);
    auto set = [&](session& s, std::uint32_t id, std::string value) {
        return n.prepared(s, {{"change", "set_attribute"},
                              {"handle", mac},
                              {"attribute", id},
                              {"value", std::move(value)}});
    };
    REQUIRE(set(n.alice, 3, "renamed") == status::ok);
    CHECK(key_summary_from(n.call(n.alice, operation::get_key, {{"handle", mac}}).fields)->label ==
          "renamed");
    REQUIRE(set(n.alice, 264, "0") == status::ok);
    CHECK(n.use(n.alice, operation::sign, mac, "hmac-sha256", message).code ==
          status::key_function_not_permitted);
    REQUIRE(set(n.alice, 264, "1") == status::ok);
    CHECK(n.use(n.alice, operation::sign, mac, "hmac-sha256", message).code == status::ok);
    CHECK(set(n.alice, 354, "1") == status::attribute_read_only); // extractable
    CHECK(set(n.alice, 260, "1") == status::attribute_read_only); // cipher uses only narrow
    CHECK(set(n.alice, 264, "yes") == status::attribute_invalid);
    CHECK(set(n.alice, 9999, "1") == status::attribute_invalid);
    CHECK(set(n.alice, 3, "a\nb") == status::attribute_invalid);
    // CKA_ID (258), in lower-case hex: a syncKey copy carries the new one.
    REQUIRE(set(n.alice, 258, "0a0b") == status::ok);
    CHECK(key_summary_from(n.call(n.alice, operation::get_key, {{"handle", mac}}).fields)->id ==
          "0a0b");
    auto sealed = n.call(n.alice, operation::get_sealed_key, {{"handle", mac}});
    REQUIRE(sealed.code == status::ok);
    cluster_keys same(bytes(sealing_key_size, 7));
    auto copy = open_key(same.sealing(), "cluster-t", mac,
                         *from_hex(sealed_keys_from(sealed.fields)->front().sealed));
    REQUIRE(copy);
    CHECK(copy->description.id_hex == "0a0b");
    CHECK(set(n.alice, 258, "0A") == status::attribute_invalid);
    CHECK(set(n.alice, 258, std::string(2 * max_key_id + 2, 'a')) == status::attribute_invalid);
    REQUIRE(n.share(n.alice, mac, {"bob"}, true) == status::ok);
    CHECK(set(n.bob, 3, "mine") == status::permission_denied);
    CHECK(set(n.admin, 3, "mine") == status::permission_denied);
}

TEST_CASE("syncKey puts back a key as it is now, from an officer or its owner") {
    key_fixture n;
    auto aes = n.new_keys(n.alice, "aes:256", {{"label", "data"}}).at(0);
    REQUIRE(n.share(n.alice, aes, {"bob"}, true) == status::ok);
    auto before = n.call(n.admin, operation::get_key, {{"handle", aes}}).fields.at("digest");
    CHECK(n.call(n.bob, operation::get_sealed_key, {{"handle", aes}}).code ==
          status::permission_denied);
    auto sealed = n.call(n.admin, operation::get_sealed_key, {{"handle", aes}});
    REQUIRE(sealed.code == status::ok);
    CHECK(sealed.fields.at("digest") == before);
    // Lost on this node, as damage would lose it; the copy repairs it.
    n.store.transact([&] { n.store.keys().remove(aes); });
    CHECK(n.use(n.bob, operation::encrypt, aes, "aes-gcm", message).code == status::key_not_found);
    auto keys = sealed.fields.at("keys");
    auto altered = keys;
    auto& hex = altered[0]["sealed"].get_ref<std::string&>();
    hex[50] = hex[50] == 'a' ? 'b' : 'a';
    CHECK(n.prepared(n.admin, {{"change", "sync_key"}, {"keys", altered}}) == status::bad_request);
    CHECK(n.prepared(n.bob, {{"change", "sync_key"}, {"keys", keys}}) == status::permission_denied);
    REQUIRE(n.prepared(n.admin, {{"change", "sync_key"}, {"keys", keys}}) == status::ok);
    CHECK(n.call(n.admin, operation::get_key, {{"handle", aes}}).fields.at("digest") == before);
    CHECK(n.use(n.bob, operation::encrypt, aes, "aes-gcm", message).code == status::ok);
    // Again: the node holds this version already, as it is; nothing changes.
    REQUIRE(n.prepared(n.alice, {{"change", "sync_key"}, {"keys", keys}}) == status::ok);
    CHECK(n.call(n.admin, operation::get_key, {{"handle", aes}}).fields.at("digest") == before);
    // A fresh generation is not a copy: it never syncs in.
    auto fresh = n.call(n.alice, operation::generate_key, {{"spec", "aes:256"}});
    CHECK(n.prepared(n.alice, {{"change", "sync_key"}, {"keys", fresh.fields.at("keys")}}) ==
          status::bad_request);
}

TEST_CASE("a crypto user lists its keys and those shared with it, a page at a time") {
    key_fixture n;
    std::vector<std::int64_t> mine;
    for (int i = 0; i < 20; ++i)
        for (auto h : n.new_keys(n.alice, "ec:p256"))
            mine.push_back(h);
    auto theirs = n.new_keys(n.bob, "aes:128").at(0);
    REQUIRE(n.share(n.bob, theirs, {"alice"}, true) == status::ok);
    mine.push_back(theirs);
    std::vector<std::int64_t> seen;
    std::int64_t after = 0;
    for (int page = 0; page < 10; ++page) {
        auto r = n.call(n.alice, operation::list_keys, {{"after", after}});
        REQUIRE(r.code == status::ok);
        for (const auto& k : r.fields.at("keys")) {
            seen.push_back(k.at("handle").get<std::int64_t>());
            CHECK(key_summary_from(k));
        }
        after = seen.back();
        if (!r.fields.at("more").get<bool>()) break;
    }
    std::ranges::sort(mine); // pages go in handle order
    CHECK(seen == mine);
    CHECK(n.call(n.admin, operation::list_keys).code == status::permission_denied);
}

TEST_CASE("a kept sealed copy never undoes a later change, nor brings back a destroyed key") {
    key_fixture n;
    auto aes = n.new_keys(n.alice, "aes:128").at(0);
    REQUIRE(n.share(n.alice, aes, {"bob"}, true) == status::ok);
    // An officer keeps a copy while bob may use the key...
    auto kept = n.call(n.admin, operation::get_sealed_key, {{"handle", aes}}).fields.at("keys");
    // ...the owner then stops sharing it: replaying the copy cannot share it again.
    REQUIRE(n.share(n.alice, aes, {"bob"}, false) == status::ok);
    CHECK(n.prepared(n.admin, {{"change", "sync_key"}, {"keys", kept}}) == status::version_newer);
    CHECK(n.use(n.bob, operation::encrypt, aes, "aes-gcm", message).code == status::key_not_found);
    // A destroyed key stays destroyed, whoever kept a copy of it.
    auto generated = n.call(n.alice, operation::generate_key, {{"spec", "aes:128"}});
    auto keys = generated.fields.at("keys");
    REQUIRE(n.prepared(n.alice, {{"change", "insert_keys"}, {"keys", keys}}) == status::ok);
    auto handle = keys[0].at("handle").get<std::int64_t>();
    auto copy = n.call(n.admin, operation::get_sealed_key, {{"handle", handle}}).fields.at("keys");
    REQUIRE(n.prepared(n.alice, {{"change", "destroy_key"}, {"handle", handle}}) == status::ok);
    CHECK(n.prepared(n.alice, {{"change", "insert_keys"}, {"keys", keys}}) ==
          status::key_destroyed);
    CHECK(n.prepared(n.admin, {{"change", "sync_key"}, {"keys", copy}}) == status::key_destroyed);
    CHECK(n.call(n.alice, operation::get_key, {{"handle", handle}}).code == status::key_not_found);
}

// A blob as a node of this cluster would seal it (the fixture's sealing key).
std::string sealed_hex(const key_contents& k) {
    cluster_keys same(bytes(sealing_key_size, 7));
    return to_hex(seal_key(same.sealing(), "cluster-t", k));
}

TEST_CASE("a sync never puts another key or another owner under a handle") {
    key_fixture n;
    auto aes = n.new_keys(n.alice, "aes:256").at(0);
    auto row = n.store.keys().find(aes);
    REQUIRE(row);
    // The attack of issue 26: a blob for alice's handle that holds other
    // material (mallory's generation under a colliding handle), newer.
    key_contents forged;
    forged.description = *row;
    forged.description.version = row->version + 5;
    forged.owner_name = "bob";
    forged.material = key_material(bytes(32, 0x42));
    forged.copy = true;
    forged.sealed_at = unix_ms();
    auto keys = [&](const key_contents& k) {
        return json::array({{{"handle", aes}, {"class", "secret"}, {"sealed", sealed_hex(k)}}});
    };
    CHECK(n.prepared(n.bob, {{"change", "sync_key"}, {"keys", keys(forged)}}) ==
          status::key_mismatch);
    // The same material with another owner is refused as well: a sync never changes an owner.
    cluster_keys same(bytes(sealing_key_size, 7));
    auto own = open_key(same.sealing(), "cluster-t", aes, row->sealed);
    REQUIRE(own);
    own->owner_name = "bob";
    own->copy = true;
    own->description.version = row->version + 1;
    CHECK(n.prepared(n.bob, {{"change", "sync_key"}, {"keys", keys(*own)}}) ==
          status::key_mismatch);
    CHECK(n.prepared(n.admin, {{"change", "sync_key"}, {"keys", keys(*own)}}) ==
          status::key_mismatch);
    CHECK(n.store.keys().find(aes)->owner == n.id_of("alice"));
    CHECK(n.use(n.alice, operation::encrypt, aes, "aes-gcm", message).code == status::ok);
}

TEST_CASE("only a fresh generation is inserted, once, by its owner") {
    key_fixture n;
    auto aes = n.new_keys(n.alice, "aes:256").at(0);
    // A copy of a key some node holds is not a new key.
    auto copy = n.call(n.alice, operation::get_sealed_key, {{"handle", aes}}).fields.at("keys");
    n.store.transact([&] { n.store.keys().remove(aes); });
    CHECK(n.prepared(n.alice, {{"change", "insert_keys"}, {"keys", copy}}) == status::bad_request);
    // A generation left waiting holds nothing and soon inserts nothing.
    auto g = n.call(n.alice, operation::generate_key, {{"spec", "aes:128"}});
    auto handle = g.fields.at("keys")[0].at("handle").get<std::int64_t>();
    cluster_keys same(bytes(sealing_key_size, 7));
    auto waiting = open_key(same.sealing(), "cluster-t", handle,
                            *from_hex(g.fields.at("keys")[0].at("sealed").get<std::string>()));
    REQUIRE(waiting);
    waiting->sealed_at -= generated_key_lifetime_ms + 1000;
    json old =
        json::array({{{"handle", handle}, {"class", "secret"}, {"sealed", sealed_hex(*waiting)}}});
    CHECK(n.prepared(n.alice, {{"change", "insert_keys"}, {"keys", old}}) ==
          status::key_generation_expired);
    CHECK(n.prepared(n.alice, {{"change", "insert_keys"}, {"keys", g.fields.at("keys")}}) ==
          status::ok);
}

TEST_CASE("handles are drawn at random: a generation elsewhere cannot name the next key") {
    key_fixture n;
    std::vector<std::int64_t> drawn;
    for (int i = 0; i < 8; ++i) {
        auto g = n.call(n.alice, operation::generate_key, {{"spec", "aes:128"}});
        drawn.push_back(g.fields.at("keys").at(0).at("handle").get<std::int64_t>());
    }
    auto next = n.new_keys(n.bob, "aes:128").at(0);
    CHECK(std::ranges::find(drawn, next) == drawn.end());
    // Not a counter: the draws are not consecutive.
    std::ranges::sort(drawn);
    CHECK(drawn.back() - drawn.front() > 1000);
    CHECK(std::ranges::all_of(drawn, [](auto h) { return h > 0 && h <= 0x7fffffff; }));
}

TEST_CASE("one crypto user's keys stop at the quota; another's go on") {
    key_fixture n;
    n.service.set_key_quota(4);
    CHECK(n.new_keys(n.alice, "ec:p256").size() == 2);
    CHECK(n.new_keys(n.alice, "aes:128").size() == 1);
    // A pair would make five.
    auto g = n.call(n.alice, operation::generate_key, {{"spec", "ec:p256"}});
    CHECK(n.prepared(n.alice, {{"change", "insert_keys"}, {"keys", g.fields.at("keys")}}) ==
          status::key_quota_exceeded);
    CHECK(n.new_keys(n.alice, "aes:128").size() == 1);
    CHECK(n.new_keys(n.alice, "aes:128").empty());
    CHECK(n.new_keys(n.bob, "aes:128").size() == 1);
}

TEST_CASE("an officer sets one crypto user's key quota; the others keep the node's") {
    key_fixture n;
    n.service.set_key_quota(4);
    auto set = [&](session& s, std::string_view type, std::string_view name, json quota) {
        return n
            .call(s, operation::set_key_quota,
                  {{"type", type}, {"name", name}, {"key_quota", std::move(quota)}})
            .code;
    };
    REQUIRE(set(n.admin, "CU", "alice", 1) == status::ok);
    CHECK(n.store.users().find("alice")->key_quota == 1);
    CHECK(n.new_keys(n.alice, "aes:128").size() == 1);
    CHECK(n.new_keys(n.alice, "aes:128").empty()); // RET_KEY_QUOTA_EXCEEDED at 1
    CHECK(n.new_keys(n.bob, "aes:128").size() == 1);
    CHECK(n.new_keys(n.bob, "ec:p256").size() == 2);
    // listUsers says so: alice's own, bob the node's.
    auto users = n.call(n.admin, operation::list_users).fields.at("users");
    for (const auto& u : users)
        if (u.at("name") == "alice")
            CHECK(u.at("key_quota") == 1);
        else if (u.at("name") == "bob")
            CHECK(u.at("key_quota") == 4);
        else
            CHECK_FALSE(u.contains("key_quota")); // officers own no keys
    // A crypto user sets no quota, its own or another's.
    CHECK(set(n.alice, "CU", "alice", 100) == status::permission_denied);
    CHECK(set(n.bob, "CU", "alice", 100) == status::permission_denied);
    // Only crypto users own keys; the number is a count a node can hold.
    CHECK(set(n.admin, "CO", "admin", 10) == status::invalid_user_type);
    CHECK(set(n.admin, "CU", "nobody", 10) == status::user_not_found);
    CHECK(set(n.admin, "CU", "alice", -1) == status::bad_request);
    CHECK(set(n.admin, "CU", "alice", std::int64_t{max_keys_per_node} + 1) == status::bad_request);
    CHECK(set(n.admin, "CU", "alice", "5") == status::bad_request);
    CHECK(n.call(n.admin, operation::set_key_quota, {{"type", "CU"}, {"name", "alice"}}).code ==
          status::bad_request);
    // Not a credential: alice stays logged in; her record's version moves.
    auto before = n.store.users().find("alice")->version;
    REQUIRE(set(n.admin, "CU", "alice", nullptr) == status::ok); // back to the node's 4
    CHECK_FALSE(n.store.users().find("alice")->key_quota);
    CHECK(n.store.users().find("alice")->version == before + 1);
    CHECK(n.new_keys(n.alice, "aes:128").size() == 1);
    // Prepared like every user change: the commit applies it.
    CHECK(n.prepared(
              n.admin,
              {{"change", "set_key_quota"}, {"type", "CU"}, {"name", "alice"}, {"key_quota", 2}}) ==
          status::ok);
    CHECK(n.store.users().find("alice")->key_quota == 2);
    CHECK(n.new_keys(n.alice, "aes:128").empty());
}

TEST_CASE("syncUser carries an officer-set key quota to a node that lacks it") {
    key_fixture n;
    REQUIRE(n.call(n.admin, operation::set_key_quota,
                   {{"type", "CU"}, {"name", "bob"}, {"key_quota", 7}})
                .code == status::ok);
    auto got = n.call(n.admin, operation::get_user, {{"name", "bob"}});
    REQUIRE(got.code == status::ok);
    // Lost here (as on a node that missed it), then synced back.
    n.store.transact([&] { n.store.users().set_key_quota(n.id_of("bob"), std::nullopt); });
    n.store.transact([&] {
        auto u = *n.store.users().find("bob");
        n.store.users().put("bob", u.type, u.hash, u.version - 1, 0, {}, false, std::nullopt);
    });
    CHECK(n.prepared(n.admin, {{"change", "sync_user"}, {"record", got.fields.at("record")}}) ==
          status::ok);
    CHECK(n.store.users().find("bob")->key_quota == 7);
}

TEST_CASE("a synced record never makes a user a key is shared with an officer") {
    key_fixture n;
    auto key = n.new_keys(n.alice, "aes:128").at(0);
    REQUIRE(n.share(n.alice, key, json::array({n.id_of("bob")}), true) == status::ok);
    REQUIRE(n.call(n.bob, operation::logout).code == status::ok); // a type changes logged out
    // Another node of the cluster (the same sealing key) where bob is a CO.
    node_fixture other;
    auto admin = other.activated();
    REQUIRE(other.create(admin, "CO", "bob") == status::ok);
    auto record = other.call(admin, operation::get_user, {{"name", "bob"}});
    REQUIRE(record.code == status::ok);
    CHECK(n.prepared(n.admin, {{"change", "sync_user"},
                               {"record", record.fields.at("record")},
                               {"force", true}}) == status::user_owns_keys);
    CHECK(n.store.users().find("bob")->type == user_type::cu);
    // Unshared, bob may become what the cluster says he is.
    REQUIRE(n.share(n.alice, key, json::array({n.id_of("bob")}), false) == status::ok);
    CHECK(n.prepared(n.admin, {{"change", "sync_user"},
                               {"record", record.fields.at("record")},
                               {"force", true}}) == status::ok);
    CHECK(n.store.users().find("bob")->type == user_type::co);
}

TEST_CASE("the node chooses every encryption IV") {
    key_fixture n;
    auto aes = n.new_keys(n.alice, "aes:256").at(0);
    CHECK(n.use(n.alice, operation::encrypt, aes, "aes-gcm", message,
                {{"iv", "000000000000000000000000"}})
              .code == status::bad_request);
    auto a = n.use(n.alice, operation::encrypt, aes, "aes-gcm", message);
    auto b = n.use(n.alice, operation::encrypt, aes, "aes-gcm", message);
    REQUIRE(a.code == status::ok);
    REQUIRE(b.code == status::ok);
    // IV in front: two encryptions of the same data never share one.
    CHECK(a.fields.at("data").get<std::string>().substr(0, 24) !=
          b.fields.at("data").get<std::string>().substr(0, 24));
}

TEST_CASE("a key synced in whole counts against its owner's quota") {
    key_fixture n;
    n.service.set_key_quota(2);
    auto kept = n.new_keys(n.alice, "aes:128").at(0);
    auto other = n.new_keys(n.alice, "aes:128").at(0);
    auto copy = n.call(n.admin, operation::get_sealed_key, {{"handle", other}}).fields.at("keys");
    // Lost on this node (as on a node that never got it), with alice back at her quota.
    n.store.transact([&] { n.store.keys().remove(other); });
    REQUIRE(n.new_keys(n.alice, "aes:128").size() == 1);
    CHECK(n.prepared(n.admin, {{"change", "sync_key"}, {"keys", copy}}) ==
          status::key_quota_exceeded);
    CHECK(n.store.keys().find(kept));
}

TEST_CASE("before login a client writes no audit row and learns nothing of keys") {
    key_fixture n;
    auto handles = n.new_keys(n.alice, "aes:256");
    REQUIRE(handles.size() == 1);
    session anonymous;
    n.service.authenticate(anonymous, "SHA256:cc");
    auto before = n.store.audit().count();
    for (auto handle : {handles[0], std::int64_t{424242}}) {
        // The same answer whether the handle exists or not.
        CHECK(n.call(anonymous, operation::get_key, {{"handle", handle}}).code ==
              status::not_logged_in);
        CHECK(n.call(anonymous, operation::get_sealed_key, {{"handle", handle}}).code ==
              status::not_logged_in);
        CHECK(n.use(anonymous, operation::sign, handle, "ecdsa-sha256", "00").code ==
              status::not_logged_in);
    }
    CHECK(n.call(anonymous, operation::generate_key, {{"spec", "aes:256"}}).code ==
          status::not_logged_in);
    CHECK(n.call(anonymous, operation::find_keys, {{"user", 1}}).code == status::not_logged_in);
    CHECK(n.call(anonymous, operation::delete_token, {{"all", true}}).code ==
          status::not_logged_in);
    CHECK(n.call(anonymous, operation::announce_peers, json::object()).code ==
          status::permission_denied);
    CHECK(n.store.audit().count() == before);
    // A logged-in user's refusal is still audited.
    CHECK(n.use(n.alice, operation::sign, 424242, "ecdsa-sha256", "00").code ==
          status::key_not_found);
    CHECK(n.store.audit().count() == before + 1);
}
