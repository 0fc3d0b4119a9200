// Owning pointers and small conversions for OpenSSL objects; private to the pki layer.
#pragma once

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>
#include <string>

#include "base/bytes.hpp"
#include "base/clock.hpp"
#include "base/error.hpp"

namespace ecash::pki::detail {

template <class T, void (*Free)(T*)>
struct Deleter {
  void operator()(T* p) const { Free(p); }
};
template <class T, void (*Free)(T*)>
using Owned = std::unique_ptr<T, Deleter<T, Free>>;

using BioPtr = Owned<BIO, BIO_free_all>;
using PkeyPtr = Owned<EVP_PKEY, EVP_PKEY_free>;
using X509Ptr = Owned<X509, X509_free>;
using CrlPtr = Owned<X509_CRL, X509_CRL_free>;
using StorePtr = Owned<X509_STORE, X509_STORE_free>;
using StoreCtxPtr = Owned<X509_STORE_CTX, X509_STORE_CTX_free>;
using ObjectPtr = Owned<ASN1_OBJECT, ASN1_OBJECT_free>;
using OctetsPtr = Owned<ASN1_OCTET_STRING, ASN1_OCTET_STRING_free>;
using Utf8Ptr = Owned<ASN1_UTF8STRING, ASN1_UTF8STRING_free>;
using IntegerPtr = Owned<ASN1_INTEGER, ASN1_INTEGER_free>;
using TimePtr = Owned<ASN1_TIME, ASN1_TIME_free>;
using BignumPtr = Owned<BIGNUM, BN_free>;
using ExtensionPtr = Owned<X509_EXTENSION, X509_EXTENSION_free>;
using RevokedPtr = Owned<X509_REVOKED, X509_REVOKED_free>;

// fail(code, what + OpenSSL's reasons).
std::unexpected<Error> openssl_failure(ErrorCode code, const std::string& what);

Result<UnixSeconds> to_unix(const ASN1_TIME* time);
std::string integer_to_hex(const ASN1_INTEGER* integer);
Result<IntegerPtr> hex_to_integer(const std::string& hex);
std::string bio_to_string(BIO* bio);

}  // namespace ecash::pki::detail
