// SPDX-License-Identifier: Apache-2.0
// Key specs, attributes, mechanisms and who may do what with a key.
#include "hsmsh/protocol/keys.hpp"

#include <doctest/doctest.h>

using namespace hsm;

TEST_CASE("key specs name the sizes a node generates, and nothing else") {
    CHECK(parse_key_spec("ec:prime256v1") == key_spec{key_type::ec, 256});
    CHECK(parse_key_spec("ec:secp384r1") == key_spec{key_type::ec, 384});
    CHECK(parse_key_spec("rsa:3072") == key_spec{key_type::rsa, 3072});
    CHECK(parse_key_spec("aes:192") == key_spec{key_type::aes, 192});
    CHECK(parse_key_spec("hmac:256") == key_spec{key_type::generic_secret, 256});
    for (auto bad : {"", "ec", "ec:p521", "rsa:1024", "rsa:2048x", "rsa: 2048", "aes:512",
                     "hmac:100", "hmac:1024", "des:64", "rsa:-2048"})
        CHECK_FALSE(parse_key_spec(bad));
    for (auto text : {"ec:p256", "ec:p384", "rsa:4096", "aes:128", "hmac:512"})
        CHECK(key_spec_name(*parse_key_spec(text)) == text);
}

TEST_CASE("attributes: CMU's ids, the settable ones, and flags that fit the class") {
    CHECK(find_key_attribute(354)->name == "OBJ_ATTR_EXTRACTABLE");
    CHECK(find_key_attribute(3)->settable);
    CHECK_FALSE(find_key_attribute(0)->settable);
    CHECK(find_key_attribute(354)->settable); // CKA_EXTRACTABLE, turned off only (may_turn)
    CHECK_FALSE(find_key_attribute(9999));
    auto priv = default_flags(key_class::private_key, key_type::ec);
    CHECK(priv.sign);
    CHECK_FALSE(priv.verify);
    CHECK_FALSE(priv.extractable);
    CHECK(flags_fit(priv, key_class::private_key, key_type::ec));
    auto pub = default_flags(key_class::public_key, key_type::ec);
    CHECK(pub.verify);
    CHECK_FALSE(pub.sign);
    CHECK(flags_fit(pub, key_class::public_key, key_type::ec));
    priv.verify = true;
    CHECK_FALSE(flags_fit(priv, key_class::private_key, key_type::ec));
    auto secret = default_flags(key_class::secret_key, key_type::aes);
    secret.extractable = true;
    CHECK_FALSE(flags_fit(secret, key_class::secret_key, key_type::aes)); // never extractable?
    secret.never_extractable = false;
    CHECK(flags_fit(secret, key_class::secret_key, key_type::aes)); // it leaves wrapped
    secret.sensitive = false;
    CHECK_FALSE(flags_fit(secret, key_class::secret_key, key_type::aes)); // never in the clear
    CHECK_FALSE(default_flags(key_class::secret_key, key_type::aes).sign);
    // An AES key may MAC (CMAC) when it does nothing else.
    auto mac_key = default_flags(key_class::secret_key, key_type::aes);
    mac_key.sign = true;
    CHECK_FALSE(flags_fit(mac_key, key_class::secret_key, key_type::aes));
    mac_key.encrypt = mac_key.decrypt = mac_key.wrap = mac_key.unwrap = false;
    CHECK(flags_fit(mac_key, key_class::secret_key, key_type::aes));
    mac_key.wrap = true;
    CHECK_FALSE(flags_fit(mac_key, key_class::secret_key, key_type::aes));
    CHECK_FALSE(default_flags(key_class::secret_key, key_type::generic_secret).encrypt);
    CHECK(default_flags(key_class::secret_key, key_type::generic_secret).sign);
    // EC keys sign and derive; nothing here encrypts with them.
    CHECK_FALSE(default_flags(key_class::private_key, key_type::ec).decrypt);
    CHECK_FALSE(default_flags(key_class::public_key, key_type::ec).encrypt);
    CHECK_FALSE(default_flags(key_class::public_key, key_type::ec).wrap);
    auto narrowed =
        flags_from_json({{"decrypt", false}}, default_flags(key_class::secret_key, key_type::aes));
    REQUIRE(narrowed);
    CHECK_FALSE(narrowed->decrypt);
    CHECK(narrowed->encrypt);
    CHECK_FALSE(flags_from_json({{"signn", true}}, key_flags{}));
    CHECK_FALSE(flags_from_json({{"sign", 1}}, key_flags{}));
    CHECK(flags_from_json(flags_to_json(pub), key_flags{}) == pub);
}

TEST_CASE("labels and ids are bounded") {
    CHECK(valid_key_label(""));
    CHECK(valid_key_label(std::string(max_key_label, 'x')));
    CHECK_FALSE(valid_key_label(std::string(max_key_label + 1, 'x')));
    CHECK_FALSE(valid_key_label("a\nb"));
    CHECK_FALSE(valid_key_label("\x1b[2J"));
    // UTF-8 as it is written, or nothing: JSON would change a stray byte.
    CHECK(valid_key_label("cl\xc3\xa9 \xe2\x82\xac"));
    CHECK_FALSE(valid_key_label("\xff\xfe"));
    CHECK_FALSE(valid_key_label("\xc3"));
    CHECK_FALSE(valid_key_label("\xc2\x9b")); // C1 CSI, encoded
    CHECK(valid_key_id_hex("00ff"));
    CHECK_FALSE(valid_key_id_hex("0"));
    CHECK_FALSE(valid_key_id_hex("00FF"));
    CHECK_FALSE(valid_key_id_hex(std::string(2 * max_key_id + 2, '0')));
}

TEST_CASE("mechanisms fit key types, classes and uses") {
    using enum key_use;
    CHECK(mechanism_fits(mechanism::ecdsa_sha256, sign, key_type::ec, key_class::private_key));
    CHECK(mechanism_fits(mechanism::ecdsa_sha256, verify, key_type::ec, key_class::public_key));
    CHECK_FALSE(mechanism_fits(mechanism::ecdsa_sha256, sign, key_type::ec, key_class::public_key));
    CHECK_FALSE(
        mechanism_fits(mechanism::ecdsa_sha256, sign, key_type::rsa, key_class::private_key));
    CHECK(mechanism_fits(mechanism::rsa_pss_sha384, sign, key_type::rsa, key_class::private_key));
    CHECK(
        mechanism_fits(mechanism::rsa_oaep_sha256, encrypt, key_type::rsa, key_class::public_key));
    CHECK_FALSE(
        mechanism_fits(mechanism::rsa_oaep_sha256, sign, key_type::rsa, key_class::private_key));
    CHECK(mechanism_fits(mechanism::aes_gcm, decrypt, key_type::aes, key_class::secret_key));
    CHECK_FALSE(mechanism_fits(mechanism::aes_gcm, sign, key_type::aes, key_class::secret_key));
    CHECK(mechanism_fits(mechanism::hmac_sha256, verify, key_type::generic_secret,
                         key_class::secret_key));
    for (auto name : {"ecdsa", "rsa-pkcs1-sha512", "aes-gcm", "hmac-sha256", "aes-ctr",
                      "rsa-oaep-sha1", "hmac-sha512"})
        CHECK(mechanism_name(*mechanism_from_name(name)) == name);
    // What a mechanism gives beyond its use takes the flags of that too: the
    // cipher itself (ECB, CBC, CTR) both ways; a PKCS#1 v1.5 decryption
    // (Bleichenbacher's oracle) a key that may sign.
    key_flags one_way;
    one_way.encrypt = true;
    one_way.decrypt = false;
    CHECK(flags_allow(one_way, mechanism::aes_gcm, encrypt));
    CHECK_FALSE(flags_allow(one_way, mechanism::aes_ctr, encrypt));
    CHECK_FALSE(flags_allow(one_way, mechanism::aes_ecb, encrypt));
    key_flags decrypting;
    decrypting.decrypt = true;
    decrypting.sign = false;
    CHECK(flags_allow(decrypting, mechanism::rsa_oaep_sha1, decrypt));
    CHECK_FALSE(flags_allow(decrypting, mechanism::rsa_pkcs1, decrypt));
    decrypting.sign = true;
    CHECK(flags_allow(decrypting, mechanism::rsa_pkcs1, decrypt));
    CHECK_FALSE(mechanism_from_name("rsa-x509"));
}

TEST_CASE("who may use, read, share and change a key") {
    auto cu = [](bool owner, bool shared) { return key_actor{user_type::cu, owner, shared}; };
    auto priv = key_class::private_key;
    CHECK(may_use_key({}, priv) == status::not_logged_in);
    CHECK(may_use_key(cu(true, false), priv) == status::ok);
    CHECK(may_use_key(cu(false, true), priv) == status::ok);
    // A key of another user looks like no key at all.
    CHECK(may_use_key(cu(false, false), priv) == status::key_not_found);
    CHECK(may_use_key(cu(false, false), key_class::public_key) == status::ok);
    // Officers manage keys and never use them, even keys they could read.
    CHECK(may_use_key({user_type::co, false, false}, priv) == status::permission_denied);
    CHECK(may_read_key({user_type::co, false, false}, priv) == status::ok);
    CHECK(may_read_key({user_type::au, false, false}, priv) == status::permission_denied);
    CHECK(may_share_key(cu(true, false), priv) == status::ok);
    CHECK(may_share_key(cu(false, true), priv) == status::permission_denied);
    CHECK(may_share_key(cu(false, false), priv) == status::key_not_found);
    CHECK(may_share_key(cu(true, false), key_class::public_key) == status::key_not_shareable);
    CHECK(may_change_key(cu(false, true), priv) == status::permission_denied);
    CHECK(may_change_key(cu(true, false), key_class::secret_key) == status::ok);
    CHECK(may_change_key({user_type::co, false, false}, priv) == status::permission_denied);
}

TEST_CASE("the wrap policy: key-encryption keys apart, extractable keys of their owners alone") {
    auto aes = default_flags(key_class::secret_key, key_type::aes);
    CHECK_FALSE(aes.wrap); // a key wraps only when asked to
    CHECK_FALSE(aes.unwrap);
    CHECK_FALSE(default_flags(key_class::public_key, key_type::rsa).wrap);
    auto kek = aes;
    kek.wrap = kek.unwrap = true;
    CHECK_FALSE(flags_fit(kek, key_class::secret_key, key_type::aes)); // and encrypts
    kek.encrypt = kek.decrypt = false;
    CHECK(flags_fit(kek, key_class::secret_key, key_type::aes));
    for (auto cipher : {&key_flags::encrypt, &key_flags::decrypt}) {
        auto both = kek;
        both.*cipher = true;
        CHECK_FALSE(flags_fit(both, key_class::secret_key, key_type::aes));
        // A key made before the rule holds both: refused at every use too.
        CHECK_FALSE(flags_allow(both, mechanism::aes_key_wrap_pad, key_use::wrap));
        CHECK_FALSE(flags_allow(both, mechanism::aes_key_wrap_pad, key_use::unwrap));
    }
    CHECK(flags_allow(kek, mechanism::aes_key_wrap, key_use::wrap));
    CHECK(mechanism_fits(mechanism::aes_key_wrap_pad, key_use::unwrap, key_type::aes,
                         key_class::secret_key));
    CHECK(mechanism_fits(mechanism::aes_gcm, key_use::wrap, key_type::aes, key_class::secret_key));
    // Key wraps wrap and unwrap, nothing else; the cipher modes never wrap.
    CHECK_FALSE(mechanism_fits(mechanism::aes_key_wrap, key_use::encrypt, key_type::aes,
                               key_class::secret_key));
    CHECK_FALSE(
        mechanism_fits(mechanism::aes_ecb, key_use::wrap, key_type::aes, key_class::secret_key));
    // OAEP wraps under a public key and unwraps with a private one, never
    // the other way round (rsa_wrapping_pair_holds joins the halves on the node).
    CHECK(mechanism_fits(mechanism::rsa_oaep_sha256, key_use::wrap, key_type::rsa,
                         key_class::public_key));
    CHECK(mechanism_fits(mechanism::rsa_oaep_sha1, key_use::unwrap, key_type::rsa,
                         key_class::private_key));
    CHECK_FALSE(mechanism_fits(mechanism::rsa_oaep_sha256, key_use::wrap, key_type::rsa,
                               key_class::private_key));
    CHECK_FALSE(mechanism_fits(mechanism::rsa_oaep_sha256, key_use::unwrap, key_type::rsa,
                               key_class::public_key));
    CHECK_FALSE(mechanism_fits(mechanism::rsa_oaep_sha256, key_use::wrap, key_type::ec,
                               key_class::public_key));
    // What is wrapped: an extractable secret or private key, under a
    // trusted key when it asks for one.
    auto key = default_flags(key_class::secret_key, key_type::generic_secret);
    CHECK(may_wrap(key_class::secret_key, key, kek) == status::key_unextractable);
    key.extractable = true;
    CHECK(may_wrap(key_class::secret_key, key, kek) == status::ok);
    CHECK(may_wrap(key_class::public_key, key, kek) == status::key_not_wrappable);
    key.wrap_with_trusted = true;
    CHECK(may_wrap(key_class::secret_key, key, kek) == status::key_not_wrappable);
    kek.trusted = true;
    CHECK(may_wrap(key_class::private_key, key, kek) == status::ok);
}

TEST_CASE("cipher and wrap uses and extractability only narrow after a key is made") {
    const auto& encrypt = *find_key_attribute(260);
    const auto& wrap = *find_key_attribute(262);
    const auto& sign = *find_key_attribute(264);
    const auto& extractable = *find_key_attribute(354);
    const auto& trusted_only = *find_key_attribute(528);
    CHECK(may_turn(encrypt, key_type::aes, false));
    CHECK_FALSE(may_turn(encrypt, key_type::aes, true));
    CHECK_FALSE(may_turn(wrap, key_type::aes, true));
    CHECK_FALSE(may_turn(extractable, key_type::generic_secret, true));
    CHECK_FALSE(may_turn(sign, key_type::aes, true)); // a cipher key becomes no MAC key
    CHECK(may_turn(sign, key_type::generic_secret, true));
    CHECK(only_narrows(encrypt, false));
    CHECK(only_narrows(extractable, false));
    CHECK(only_narrows(trusted_only, true));
    CHECK_FALSE(only_narrows(trusted_only, false));
    CHECK_FALSE(only_narrows(sign, true));
    CHECK_FALSE(only_narrows(*find_key_attribute(3), false)); // a label is no use
}
