// SPDX-License-Identifier: Apache-2.0
// The module's state between C_Initialize and C_Finalize (its slots, its
// sessions, the lock of their tables), the catch boundary of every entry
// point, and how a call ends early with a CK_RV.
#pragma once

#include <p11-kit/pkcs11.h>

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include <sys/types.h>

namespace hsm::p11 {

struct session;
struct slot;

/// Ends the C_* call in progress with `rv`: the entry layer catches it.
struct ck_error {
    CK_RV rv;
};

/// Throws ck_error{rv} unless `ok`.
inline void require(bool ok, CK_RV rv) {
    if (!ok) throw ck_error{rv};
}

/// The lock of the session and slot tables: the application's mutex
/// callbacks when it gave them without CKF_OS_LOCKING_OK (PKCS#11 5.4's
/// third case), else an OS mutex. Never held across a round trip to a node.
class library_lock {
public:
    /// Throws ck_error: CKR_ARGUMENTS_BAD when only some callbacks are
    /// given, the application's CreateMutex error when it fails.
    explicit library_lock(const CK_C_INITIALIZE_ARGS* args);
    ~library_lock();
    library_lock(const library_lock&) = delete;
    library_lock& operator=(const library_lock&) = delete;

    void lock(); // throws ck_error when the application's LockMutex fails
    void unlock() noexcept;

private:
    std::mutex os_;
    CK_DESTROYMUTEX destroy_ = nullptr;
    CK_LOCKMUTEX lock_ = nullptr;
    CK_UNLOCKMUTEX unlock_ = nullptr;
    void* application_ = nullptr; // the application's mutex, when it gave callbacks
};

/// What one C_Initialize made. C_Finalize drops the library's reference;
/// a call in flight holds its own (and those of its session and slot), so
/// nothing it uses is freed under it. The tables are guarded by `lock`.
struct instance {
    explicit instance(const CK_C_INITIALIZE_ARGS* args) : lock(args) {}

    library_lock lock;
    pid_t pid = 0;
    std::vector<std::shared_ptr<slot>> slots; // by CK_SLOT_ID; fixed once made
    std::map<CK_SESSION_HANDLE, std::shared_ptr<session>> sessions;
    bool finalized = false; // set by C_Finalize, which empties `sessions`

    /// Under `lock`: throws ck_error(CKR_CRYPTOKI_NOT_INITIALIZED) once
    /// C_Finalize has taken this instance's tables, so a call that found the
    /// instance just before answers as one that came just after.
    void require_live() const { require(!finalized, CKR_CRYPTOKI_NOT_INITIALIZED); }
};

/// The module's one state, allocated once and never destroyed: no static
/// destructor runs while a host (or pkcs11-provider's clean-up at exit)
/// still calls in. C_Finalize is the only teardown.
class library {
public:
    static library& get();

    CK_RV initialize(const CK_C_INITIALIZE_ARGS* args);
    CK_RV finalize();

    /// The current initialisation. Throws ck_error(CKR_CRYPTOKI_NOT_INITIALIZED).
    std::shared_ptr<instance> current();
    /// A session of the current initialisation. Throws ck_error
    /// (CKR_CRYPTOKI_NOT_INITIALIZED, CKR_SESSION_HANDLE_INVALID).
    std::shared_ptr<session> session_of(CK_SESSION_HANDLE h);
    /// A slot. Throws ck_error (CKR_CRYPTOKI_NOT_INITIALIZED, CKR_SLOT_ID_INVALID).
    std::shared_ptr<slot> slot_of(CK_SLOT_ID id);

    /// Session handles are never reused, across initialisations too: a
    /// handle of a finalised library names nothing in the next.
    CK_SESSION_HANDLE next_handle() noexcept { return next_session_++; }

private:
    library() = default;

    std::mutex mutex_; // guards current_ alone, held for no more than a copy
    std::shared_ptr<instance> current_;
    std::atomic<CK_SESSION_HANDLE> next_session_{1};
};

} // namespace hsm::p11
