// SPDX-License-Identifier: Apache-2.0
// pkcs11_finalize_race MODULE PIN ROUNDS THREADS: a host that calls
// C_Finalize while THREADS threads sign through the module, ROUNDS times
// (odd rounds with the application's mutex callbacks, even ones with
// CKF_OS_LOCKING_OK). Every call must answer CKR_OK or, once C_Finalize has
// run, CKR_CRYPTOKI_NOT_INITIALIZED; the process must not crash or hang.
// Exit 0 when so, 1 with the offending call otherwise.
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <latch>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <dlfcn.h>
#include <p11-kit/pkcs11.h>

namespace {

CK_FUNCTION_LIST_PTR p11 = nullptr;
constexpr int max_signatures = 200; // per thread and round: every loop is bounded

[[noreturn]] void fail(const char* what, CK_RV rv) {
    std::fprintf(stderr, "pkcs11_finalize_race: %s: 0x%lx\n", what, static_cast<unsigned long>(rv));
    std::exit(1);
}

void check(const char* what, CK_RV rv) {
    if (rv != CKR_OK) fail(what, rv);
}

// The application's mutex callbacks (PKCS#11 5.4's third case).
CK_RV create_mutex(void** m) {
    *m = new std::mutex;
    return CKR_OK;
}
CK_RV destroy_mutex(void* m) {
    delete static_cast<std::mutex*>(m);
    return CKR_OK;
}
CK_RV lock_mutex(void* m) {
    static_cast<std::mutex*>(m)->lock();
    return CKR_OK;
}
CK_RV unlock_mutex(void* m) {
    static_cast<std::mutex*>(m)->unlock();
    return CKR_OK;
}

CK_OBJECT_HANDLE find_key(CK_SESSION_HANDLE s) {
    CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
    char label[] = "finalize-race";
    CK_ATTRIBUTE t[] = {{CKA_CLASS, &cls, sizeof cls}, {CKA_LABEL, label, sizeof label - 1}};
    check("C_FindObjectsInit", p11->C_FindObjectsInit(s, t, 2));
    CK_OBJECT_HANDLE key = CK_INVALID_HANDLE;
    CK_ULONG n = 0;
    check("C_FindObjects", p11->C_FindObjects(s, &key, 1, &n));
    check("C_FindObjectsFinal", p11->C_FindObjectsFinal(s));
    if (n) return key;
    static const CK_BYTE p256[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
    CK_BBOOL yes = CK_TRUE;
    CK_ATTRIBUTE pub[] = {{CKA_TOKEN, &yes, sizeof yes},
                          {CKA_VERIFY, &yes, sizeof yes},
                          {CKA_LABEL, label, sizeof label - 1},
                          {CKA_EC_PARAMS, const_cast<CK_BYTE*>(p256), sizeof p256}};
    CK_ATTRIBUTE priv[] = {{CKA_TOKEN, &yes, sizeof yes},
                           {CKA_SIGN, &yes, sizeof yes},
                           {CKA_LABEL, label, sizeof label - 1}};
    CK_MECHANISM m{CKM_EC_KEY_PAIR_GEN, nullptr, 0};
    CK_OBJECT_HANDLE a = 0;
    check("C_GenerateKeyPair", p11->C_GenerateKeyPair(s, &m, pub, 4, priv, 3, &a, &key));
    return key;
}

// What one signing thread saw last: CKR_OK if it made every signature.
struct signer {
    CK_SESSION_HANDLE session = 0;
    CK_RV last = CKR_OK;
    const char* call = "";
    int signatures = 0;
};

void sign_until_stopped(signer& me, CK_OBJECT_HANDLE key, std::latch& started) {
    CK_MECHANISM m{CKM_ECDSA, nullptr, 0};
    CK_BYTE digest[32];
    std::memset(digest, 7, sizeof digest);
    bool counted = false;
    for (int i = 0; i < max_signatures; ++i) {
        CK_BYTE sig[128];
        CK_ULONG len = sizeof sig;
        me.call = "C_SignInit";
        me.last = p11->C_SignInit(me.session, &m, key);
        if (me.last == CKR_OK) {
            me.call = "C_Sign";
            me.last = p11->C_Sign(me.session, digest, sizeof digest, sig, &len);
        }
        if (me.last != CKR_OK) break;
        ++me.signatures;
        if (!counted) started.count_down();
        counted = true;
    }
    if (!counted) started.count_down();
}

void round(const std::string& pin, int number, int threads) {
    CK_C_INITIALIZE_ARGS init{};
    if (number % 2) {
        init.CreateMutex = create_mutex;
        init.DestroyMutex = destroy_mutex;
        init.LockMutex = lock_mutex;
        init.UnlockMutex = unlock_mutex;
    } else {
        init.flags = CKF_OS_LOCKING_OK;
    }
    check("C_Initialize", p11->C_Initialize(&init));
    CK_SLOT_ID slot = 0;
    CK_ULONG count = 1;
    check("C_GetSlotList", p11->C_GetSlotList(CK_TRUE, &slot, &count));
    std::vector<signer> signers(static_cast<std::size_t>(threads));
    for (auto& s : signers)
        check("C_OpenSession", p11->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION,
                                                  nullptr, nullptr, &s.session));
    auto* p = reinterpret_cast<CK_UTF8CHAR*>(const_cast<char*>(pin.data()));
    check("C_Login", p11->C_Login(signers[0].session, CKU_USER, p, pin.size()));
    auto key = find_key(signers[0].session);
    std::latch started(threads);
    std::vector<std::thread> workers;
    for (auto& s : signers)
        workers.emplace_back([&] { sign_until_stopped(s, key, started); });
    started.wait(); // each signed once (or failed): C_Finalize comes mid-flight
    check("C_Finalize", p11->C_Finalize(nullptr));
    for (auto& w : workers)
        w.join();
    for (const auto& s : signers)
        if (s.last != CKR_OK && s.last != CKR_CRYPTOKI_NOT_INITIALIZED) fail(s.call, s.last);
    // A session of the finalised library names nothing.
    CK_BYTE digest[32]{};
    CK_BYTE sig[128];
    CK_ULONG len = sizeof sig;
    CK_RV after = p11->C_Sign(signers[0].session, digest, sizeof digest, sig, &len);
    if (after != CKR_CRYPTOKI_NOT_INITIALIZED) fail("C_Sign after C_Finalize", after);
    int made = 0;
    for (const auto& s : signers)
        made += s.signatures;
    std::printf("round %d: %d signatures before and while C_Finalize ran\n", number, made);
}

} // namespace

int main(int argc, char** argv) {
    if (argc != 5) {
        std::fprintf(stderr, "usage: pkcs11_finalize_race MODULE PIN ROUNDS THREADS\n");
        return 2;
    }
    void* lib = dlopen(argv[1], RTLD_NOW);
    if (!lib) {
        std::fprintf(stderr, "pkcs11_finalize_race: %s\n", dlerror());
        return 1;
    }
    auto get = reinterpret_cast<CK_C_GetFunctionList>(dlsym(lib, "C_GetFunctionList"));
    check("C_GetFunctionList", get ? get(&p11) : CKR_GENERAL_ERROR);
    int rounds = std::atoi(argv[3]);
    int threads = std::max(1, std::atoi(argv[4]));
    for (int r = 0; r < rounds; ++r)
        round(argv[2], r, threads);
    std::printf("{\"rounds\": %d, \"threads\": %d}\n", rounds, threads);
    return 0;
}
