// SPDX-License-Identifier: Apache-2.0
// Keys, CSRs and certificates through OpenSSL 3.
#include "hsmsh/pki.hpp"

#include <fmt/format.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

namespace hsm {
namespace {

struct bio_free {
    void operator()(BIO* p) const noexcept { BIO_free(p); }
};
using bio_ptr = std::unique_ptr<BIO, bio_free>;

[[noreturn]] void fail(std::string_view what) {
    unsigned long code = ERR_get_error();
    ERR_clear_error();
    if (code == 0) throw pki_error(std::string(what));
    char buf[256];
    ERR_error_string_n(code, buf, sizeof buf);
    throw pki_error(fmt::format("{}: {}", what, buf));
}

void check(int rc, std::string_view what) {
    if (rc <= 0) fail(what);
}

bio_ptr memory_bio(std::string_view data) {
    bio_ptr bio(BIO_new_mem_buf(data.data(), static_cast<int>(data.size())));
    if (!bio) fail("out of memory");
    return bio;
}

template <typename Write> std::string to_pem(Write write) {
    bio_ptr bio(BIO_new(BIO_s_mem()));
    if (!bio) fail("out of memory");
    check(write(bio.get()), "PEM encoding failed");
    char* data = nullptr;
    long len = BIO_get_mem_data(bio.get(), &data);
    return std::string(data, static_cast<std::size_t>(len));
}

void add_name_entry(X509_NAME* name, const char* field, std::string_view value) {
    check(X509_NAME_add_entry_by_txt(name, field, MBSTRING_UTF8,
                                     reinterpret_cast<const unsigned char*>(value.data()),
                                     static_cast<int>(value.size()), -1, 0),
          fmt::format("bad {} in a name", field));
}

void set_subject_cn(X509_NAME* name, std::string_view cn) {
    add_name_entry(name, "CN", cn);
}

std::string name_entry(X509* cert, int nid) {
    X509_NAME* name = X509_get_subject_name(cert);
    int idx = X509_NAME_get_index_by_NID(name, nid, -1);
    if (idx < 0) return {};
    ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, idx));
    return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(data)),
                       static_cast<std::size_t>(ASN1_STRING_length(data)));
}

void add_extension(X509* cert, X509* issuer, int nid, const char* value) {
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
    if (!ext) fail("bad certificate extension");
    int rc = X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
    check(rc, "cannot add certificate extension");
}

x509_ptr new_certificate(EVP_PKEY* subject_key, int days) {
    x509_ptr cert(X509_new());
    if (!cert) fail("out of memory");
    check(X509_set_version(cert.get(), 2), "X509_set_version");
    unsigned char serial[16];
    check(RAND_bytes(serial, sizeof serial), "random serial");
    serial[0] &= 0x7f;
    BIGNUM* bn = BN_bin2bn(serial, sizeof serial, nullptr);
    BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert.get()));
    BN_free(bn);
    X509_gmtime_adj(X509_getm_notBefore(cert.get()), -60);
    X509_gmtime_adj(X509_getm_notAfter(cert.get()), 60L * 60 * 24 * days);
    check(X509_set_pubkey(cert.get(), subject_key), "X509_set_pubkey");
    return cert;
}

const char* usage_value(cert_usage usage) {
    switch (usage) {
    case cert_usage::server:
        return "serverAuth";
    case cert_usage::client:
        return "clientAuth";
    case cert_usage::server_and_client:
        return "serverAuth,clientAuth";
    }
    return "clientAuth";
}

// A certificate without the extension allows every use; a node's must say so.
bool names_usage(X509* cert, std::uint32_t usage) {
    return (X509_get_extension_flags(cert) & EXFLAG_XKUSAGE) != 0 &&
           (X509_get_extended_key_usage(cert) & usage) != 0;
}

} // namespace

pkey_ptr generate_key() {
    pkey_ptr key(EVP_EC_gen("P-256"));
    if (!key) fail("key generation failed");
    return key;
}

std::string key_to_pem(EVP_PKEY* key) {
    return to_pem([&](BIO* b) {
        return PEM_write_bio_PrivateKey(b, key, nullptr, nullptr, 0, nullptr, nullptr);
    });
}

pkey_ptr key_from_pem(std::string_view pem) {
    auto bio = memory_bio(pem);
    pkey_ptr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
    if (!key) fail("not a PEM private key");
    return key;
}

std::string public_key_der_from_pem(std::string_view pem) {
    auto bio = memory_bio(pem);
    pkey_ptr key(PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr));
    if (!key) fail("not a PEM public key");
    unsigned char* der = nullptr;
    int size = i2d_PUBKEY(key.get(), &der);
    if (size <= 0) fail("i2d_PUBKEY");
    std::string out(reinterpret_cast<const char*>(der), static_cast<std::size_t>(size));
    OPENSSL_free(der);
    return out;
}

x509_req_ptr make_csr(EVP_PKEY* key, std::string_view common_name, std::string_view serial_number) {
    x509_req_ptr csr(X509_REQ_new());
    if (!csr) fail("out of memory");
    check(X509_REQ_set_version(csr.get(), 0), "X509_REQ_set_version");
    set_subject_cn(X509_REQ_get_subject_name(csr.get()), common_name);
    if (!serial_number.empty())
        add_name_entry(X509_REQ_get_subject_name(csr.get()), "serialNumber", serial_number);
    check(X509_REQ_set_pubkey(csr.get(), key), "X509_REQ_set_pubkey");
    check(X509_REQ_sign(csr.get(), key, EVP_sha256()), "signing the CSR");
    return csr;
}

std::string csr_to_pem(X509_REQ* csr) {
    return to_pem([&](BIO* b) { return PEM_write_bio_X509_REQ(b, csr); });
}

x509_req_ptr csr_from_pem(std::string_view pem) {
    auto bio = memory_bio(pem);
    x509_req_ptr csr(PEM_read_bio_X509_REQ(bio.get(), nullptr, nullptr, nullptr));
    if (!csr) fail("not a PEM certificate request");
    return csr;
}

x509_ptr make_ca_certificate(EVP_PKEY* key, std::string_view common_name, int days) {
    auto cert = new_certificate(key, days);
    set_subject_cn(X509_get_subject_name(cert.get()), common_name);
    check(X509_set_issuer_name(cert.get(), X509_get_subject_name(cert.get())), "issuer");
    add_extension(cert.get(), cert.get(), NID_basic_constraints, "critical,CA:TRUE");
    add_extension(cert.get(), cert.get(), NID_key_usage, "critical,keyCertSign,cRLSign");
    add_extension(cert.get(), cert.get(), NID_subject_key_identifier, "hash");
    check(X509_sign(cert.get(), key, EVP_sha256()), "signing the CA certificate");
    return cert;
}

x509_ptr make_self_signed_certificate(EVP_PKEY* key, std::string_view common_name, cert_usage usage,
                                      int days) {
    auto cert = new_certificate(key, days);
    set_subject_cn(X509_get_subject_name(cert.get()), common_name);
    check(X509_set_issuer_name(cert.get(), X509_get_subject_name(cert.get())), "issuer");
    add_extension(cert.get(), cert.get(), NID_basic_constraints, "critical,CA:FALSE");
    add_extension(cert.get(), cert.get(), NID_key_usage, "critical,digitalSignature,keyAgreement");
    add_extension(cert.get(), cert.get(), NID_ext_key_usage, usage_value(usage));
    check(X509_sign(cert.get(), key, EVP_sha256()), "signing the certificate");
    return cert;
}

x509_ptr issue_certificate(X509_REQ* csr, X509* ca, EVP_PKEY* ca_key, cert_usage usage, int days) {
    EVP_PKEY* subject_key = X509_REQ_get0_pubkey(csr);
    if (!subject_key || X509_REQ_verify(csr, subject_key) != 1) fail("the CSR's signature is bad");
    auto cert = new_certificate(subject_key, days);
    check(X509_set_subject_name(cert.get(), X509_REQ_get_subject_name(csr)), "subject");
    check(X509_set_issuer_name(cert.get(), X509_get_subject_name(ca)), "issuer");
    add_extension(cert.get(), ca, NID_basic_constraints, "critical,CA:FALSE");
    add_extension(cert.get(), ca, NID_key_usage, "critical,digitalSignature,keyAgreement");
    add_extension(cert.get(), ca, NID_ext_key_usage, usage_value(usage));
    add_extension(cert.get(), ca, NID_authority_key_identifier, "keyid:always");
    check(X509_sign(cert.get(), ca_key, EVP_sha256()), "signing the certificate");
    return cert;
}

std::string cert_to_pem(X509* cert) {
    return to_pem([&](BIO* b) { return PEM_write_bio_X509(b, cert); });
}

x509_ptr cert_from_pem(std::string_view pem) {
    auto bio = memory_bio(pem);
    x509_ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
    if (!cert) fail("not a PEM certificate");
    ERR_clear_error();
    return cert;
}

std::string common_name(X509* cert) {
    return name_entry(cert, NID_commonName);
}

std::string subject_serial_number(X509* cert) {
    return name_entry(cert, NID_serialNumber);
}

bool is_self_signed(X509* cert) {
    return issued_by(cert, cert);
}

bool issued_by(X509* cert, X509* issuer) {
    if (X509_check_issued(issuer, cert) != X509_V_OK) return false;
    EVP_PKEY* key = X509_get0_pubkey(issuer);
    bool ok = key && X509_verify(cert, key) == 1;
    ERR_clear_error();
    return ok;
}

bool names_server_use(X509* cert) {
    return names_usage(cert, XKU_SSL_SERVER);
}

bool names_client_use(X509* cert) {
    return names_usage(cert, XKU_SSL_CLIENT);
}

bool same_public_key(X509* cert, X509_REQ* csr) {
    EVP_PKEY* a = X509_get0_pubkey(cert);
    EVP_PKEY* b = X509_REQ_get0_pubkey(csr);
    return a && b && EVP_PKEY_eq(a, b) == 1;
}

std::string fingerprint(X509* cert) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (X509_digest(cert, EVP_sha256(), md, &len) != 1) fail("X509_digest");
    std::string out = "SHA256:";
    for (unsigned int i = 0; i < len; ++i)
        out += fmt::format("{}{:02X}", i ? ":" : "", md[i]);
    return out;
}

} // namespace hsm
