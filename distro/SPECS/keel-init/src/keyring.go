package main

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"syscall"
	"unsafe"
)

// The kernel's own check of the root hash signature
// (CONFIG_DM_VERITY_VERIFY_ROOTHASH_SIG): the PKCS#7 signature travels in the
// signed initramfs; it is put in this thread's keyring as a "user" key and
// the verity table names it (root_hash_sig_key_desc), so the kernel verifies
// it against its trusted keyrings when the table loads. On UEFI the distro's
// Secure Boot db certificate is in the platform keyring; the resulting
// device is what IPE's dmverity_signature property trusts.
const (
	rootHashSigFile = "/etc/keel/roothash.p7s"
	rootHashKeyDesc = "keel:roothash"
	keySpecThread   = -1 // KEY_SPEC_THREAD_KEYRING
	keyctlRevoke    = 3  // KEYCTL_REVOKE
)

// kernelChecksRootHash says whether the kernel, not this program, checks the
// root hash signature: a PKCS#7 signature is in the initramfs and the machine
// booted through UEFI (without firmware, no keyring holds the distro key and
// the Ed25519 check in the initramfs is the only one; see docs/boot.md).
func kernelChecksRootHash() bool {
	if _, err := os.Stat(rootHashSigFile); err != nil {
		return false
	}
	_, err := os.Stat("/sys/firmware/efi")
	return err == nil
}

// withRootHashKey runs create (which loads the verity table) with the root
// hash signature in the calling thread's keyring; args are the table's
// optional arguments for it. The key is revoked afterwards: the kernel copied
// what it needed.
func withRootHashKey(create func(args string) (string, error)) (string, error) {
	sig, err := os.ReadFile(rootHashSigFile)
	if err != nil {
		return "", err
	}
	if len(sig) == 0 {
		return "", errors.New(rootHashSigFile + " is empty")
	}
	// The thread keyring is per thread: add the key and load the table
	// from the same one.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	id, err := addKey("user", rootHashKeyDesc, sig, keySpecThread)
	if err != nil {
		return "", fmt.Errorf("add_key %s: %w", rootHashKeyDesc, err)
	}
	defer syscall.Syscall(syscall.SYS_KEYCTL, keyctlRevoke, uintptr(id), 0)
	return create("root_hash_sig_key_desc " + rootHashKeyDesc)
}

func addKey(typ, desc string, payload []byte, keyring int) (int, error) {
	t, err := syscall.BytePtrFromString(typ)
	if err != nil {
		return 0, err
	}
	d, err := syscall.BytePtrFromString(desc)
	if err != nil {
		return 0, err
	}
	r, _, e := syscall.Syscall6(syscall.SYS_ADD_KEY, uintptr(unsafe.Pointer(t)), uintptr(unsafe.Pointer(d)),
		uintptrOf(payload), uintptr(len(payload)), uintptr(keyring), 0)
	if e != 0 {
		return 0, e
	}
	return int(r), nil
}
