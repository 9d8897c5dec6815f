// SPDX-License-Identifier: Apache-2.0
// Keys, CSRs and certificates: the cluster identity, trust anchors and client certificates.
#pragma once

#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

#include <openssl/evp.h>
#include <openssl/x509.h>

namespace hsm {

struct pki_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

struct pkey_free {
    void operator()(EVP_PKEY* p) const noexcept { EVP_PKEY_free(p); }
};
struct x509_free {
    void operator()(X509* p) const noexcept { X509_free(p); }
};
struct x509_req_free {
    void operator()(X509_REQ* p) const noexcept { X509_REQ_free(p); }
};
using pkey_ptr = std::unique_ptr<EVP_PKEY, pkey_free>;
using x509_ptr = std::unique_ptr<X509, x509_free>;
using x509_req_ptr = std::unique_ptr<X509_REQ, x509_req_free>;

/// What an issued certificate may be used for (its extended key usage).
enum class cert_usage { server, client, server_and_client };

/// A new EC P-256 key pair. Throws pki_error.
pkey_ptr generate_key();

std::string key_to_pem(EVP_PKEY* key);
pkey_ptr key_from_pem(std::string_view pem);
/// A PEM public key (`-----BEGIN PUBLIC KEY-----`, as `openssl rsa -pubout`
/// writes it) as SubjectPublicKeyInfo DER. Throws pki_error.
std::string public_key_der_from_pem(std::string_view pem);

/// A CSR signed by `key` whose subject is CN=`common_name`, and
/// serialNumber=`serial_number` when one is given (a node's HSM id).
x509_req_ptr make_csr(EVP_PKEY* key, std::string_view common_name,
                      std::string_view serial_number = {});
std::string csr_to_pem(X509_REQ* csr);
x509_req_ptr csr_from_pem(std::string_view pem);

/// A self-signed CA certificate (the customer's trust anchor).
x509_ptr make_ca_certificate(EVP_PKEY* key, std::string_view common_name, int days);

/// A self-signed end-entity certificate (a client identity to be pinned).
x509_ptr make_self_signed_certificate(EVP_PKEY* key, std::string_view common_name, cert_usage usage,
                                      int days);

/// Issues a certificate for the CSR's subject and key, signed by the CA.
x509_ptr issue_certificate(X509_REQ* csr, X509* ca, EVP_PKEY* ca_key, cert_usage usage, int days);

std::string cert_to_pem(X509* cert);
/// Parses exactly one PEM certificate. Throws pki_error.
x509_ptr cert_from_pem(std::string_view pem);

/// The subject's common name, empty when there is none.
std::string common_name(X509* cert);
/// The subject's serialNumber attribute (a node certificate's HSM id),
/// empty when there is none.
std::string subject_serial_number(X509* cert);
bool is_self_signed(X509* cert);
/// True when `issuer` names and signed `cert`.
bool issued_by(X509* cert, X509* issuer);
bool same_public_key(X509* cert, X509_REQ* csr);
/// True when the certificate names TLS server use in an extended key usage
/// (a node's certificate must; an application's, issued by the same CA, does not).
bool names_server_use(X509* cert);
/// The same for TLS client use (clientAuth).
bool names_client_use(X509* cert);
/// "SHA256:AB:CD:..." over the DER encoding.
std::string fingerprint(X509* cert);

} // namespace hsm
