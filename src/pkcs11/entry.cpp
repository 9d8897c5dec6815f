// SPDX-License-Identifier: Apache-2.0
// libhsmsh-pkcs11.so's entry points: the PKCS#11 v2.40 function list and the
// one catch boundary every C_* call passes through. One slot per cluster of
// the configuration file; a crypto user logs in with "name:password"; the
// objects are the keys that user owns or that are shared with it.
#include "diagnostics.hpp"
#include "digests.hpp"
#include "hsmsh/client/config.hpp"
#include "hsmsh/files.hpp"
#include "hsmsh/pki.hpp"
#include "key_management.hpp"
#include "key_transport.hpp"
#include "library.hpp"
#include "objects.hpp"
#include "openssl_context.hpp"
#include "operations.hpp"
#include "sessions.hpp"
#include "tokens.hpp"

#include <new>
#include <system_error>

#include <boost/system/system_error.hpp>

namespace hsm::p11 {
namespace {

// Logs why a call failed (a file, a certificate, the network: never a PIN,
// key or data, which no such message holds) and returns `rv`.
CK_RV failed(CK_RV rv, std::string_view why) noexcept {
    log(log_level::error, why);
    return rv;
}

// No exception crosses the C boundary: every call runs here, in the
// module's own OpenSSL context, and ends with a CK_RV whatever happens.
template <typename F> CK_RV guarded(F&& f) noexcept {
    openssl_scope scope;
    try {
        return f();
    } catch (const ck_error& e) {
        return e.rv;
    } catch (const std::bad_alloc&) {
        return failed(CKR_HOST_MEMORY, "out of memory");
    } catch (const config_error& e) {
        // A configuration or certificate file gone or changed (rotated, say).
        return failed(CKR_DEVICE_ERROR, e.what());
    } catch (const file_error& e) {
        return failed(CKR_DEVICE_ERROR, e.what());
    } catch (const pki_error& e) {
        return failed(CKR_DEVICE_ERROR, e.what());
    } catch (const boost::system::system_error& e) {
        return failed(CKR_DEVICE_ERROR, e.what()); // the network
    } catch (const std::system_error& e) {
        return failed(CKR_DEVICE_ERROR, e.what());
    } catch (...) {
        // Not logged: the message of an unexpected exception (a JSON parser's,
        // say) might quote what it read.
        return failed(CKR_GENERAL_ERROR, "an unexpected failure");
    }
}

// An entry point that takes no session: the function itself, guarded.
template <auto F> struct entry;
template <typename... A, CK_RV (*F)(A...)> struct entry<F> {
    static CK_RV call(A... a) noexcept {
        return guarded([&] { return F(a...); });
    }
};

// An entry point on a session: the handle resolved (the library checked
// initialised, the session found under its lock and held for the call).
template <auto F> struct on_session;
template <typename... A, CK_RV (*F)(session&, A...)> struct on_session<F> {
    static CK_RV call(CK_SESSION_HANDLE h, A... a) noexcept {
        return guarded([&] {
            auto s = library::get().session_of(h);
            return F(*s, a...);
        });
    }
};

CK_RV initialize(CK_VOID_PTR args) {
    return library::get().initialize(static_cast<const CK_C_INITIALIZE_ARGS*>(args));
}

CK_RV finalize(CK_VOID_PTR reserved) {
    require(reserved == nullptr, CKR_ARGUMENTS_BAD);
    return library::get().finalize();
}

// Every other entry: the same answer, whatever its arguments.
template <typename... A> CK_RV not_supported(A...) {
    return CKR_FUNCTION_NOT_SUPPORTED;
}

// C_GetFunctionStatus and C_CancelFunction: legacy functions for libraries
// that ran calls in parallel with their application, which PKCS#11 asks all
// others to answer so.
CK_RV not_parallel(CK_SESSION_HANDLE) {
    library::get().current();
    return CKR_FUNCTION_NOT_PARALLEL;
}

CK_RV get_function_list(CK_FUNCTION_LIST_PTR_PTR list);

constexpr auto encrypt = key_operation::encrypt;
constexpr auto decrypt = key_operation::decrypt;
constexpr auto sign = key_operation::sign;
constexpr auto verify_op = key_operation::verify;

// Constant-initialised: no constructor or destructor ever runs for it.
constinit CK_FUNCTION_LIST function_list = {
    {2, 40},
    entry<initialize>::call,
    entry<finalize>::call,
    entry<get_info>::call,
    entry<get_function_list>::call,
    entry<get_slot_list>::call,
    entry<get_slot_info>::call,
    entry<get_token_info>::call,
    entry<get_mechanism_list>::call,
    entry<get_mechanism_info>::call,
    not_supported, // C_InitToken: tokens are clusters, initialised by hsmd
    not_supported, // C_InitPIN: users are made with hsmsh
    not_supported, // C_SetPIN: passwords are changed with hsmsh
    entry<open_session>::call,
    entry<close_session>::call,
    entry<close_all_sessions>::call,
    on_session<get_session_info>::call,
    on_session<get_operation_state>::call,
    on_session<set_operation_state>::call,
    on_session<login>::call,
    on_session<logout>::call,
    on_session<create_object>::call,
    on_session<copy_object>::call,
    on_session<destroy_object>::call,
    not_supported, // C_GetObjectSize
    on_session<get_attribute_value>::call,
    on_session<set_attribute_value>::call,
    on_session<find_objects_init>::call,
    on_session<find_objects>::call,
    on_session<find_objects_final>::call,
    on_session<operation_init_entry<encrypt>>::call,
    on_session<operation_once_entry<encrypt>>::call,
    on_session<cipher_update_entry<encrypt>>::call,
    on_session<operation_final_entry<encrypt>>::call,
    on_session<operation_init_entry<decrypt>>::call,
    on_session<operation_once_entry<decrypt>>::call,
    on_session<cipher_update_entry<decrypt>>::call,
    on_session<operation_final_entry<decrypt>>::call,
    on_session<digest_init>::call,
    on_session<digest>::call,
    on_session<digest_update>::call,
    on_session<digest_key>::call,
    on_session<digest_final>::call,
    on_session<operation_init_entry<sign>>::call,
    on_session<operation_once_entry<sign>>::call,
    on_session<operation_update_entry<sign>>::call,
    on_session<operation_final_entry<sign>>::call,
    not_supported, // C_SignRecoverInit
    not_supported, // C_SignRecover
    on_session<operation_init_entry<verify_op>>::call,
    on_session<verify>::call,
    on_session<operation_update_entry<verify_op>>::call,
    on_session<verify_final>::call,
    not_supported, // C_VerifyRecoverInit
    not_supported, // C_VerifyRecover
    not_supported, // C_DigestEncryptUpdate
    not_supported, // C_DecryptDigestUpdate
    not_supported, // C_SignEncryptUpdate
    not_supported, // C_DecryptVerifyUpdate
    on_session<generate_key>::call,
    on_session<generate_key_pair>::call,
    on_session<wrap_key>::call,
    on_session<unwrap_key>::call,
    on_session<derive_key>::call,
    on_session<seed_random>::call,
    on_session<generate_random>::call,
    entry<not_parallel>::call,
    entry<not_parallel>::call,
    entry<wait_for_slot_event>::call,
};

CK_RV get_function_list(CK_FUNCTION_LIST_PTR_PTR list) {
    require(list != nullptr, CKR_ARGUMENTS_BAD);
    *list = &function_list;
    return CKR_OK;
}

} // namespace
} // namespace hsm::p11

// The one symbol the module exports.
extern "C" __attribute__((visibility("default"))) CK_RV
C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR list) {
    return hsm::p11::entry<hsm::p11::get_function_list>::call(list);
}
