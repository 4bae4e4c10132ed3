package main

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const (
	sysFinitModule = 313 // x86-64
	newRoot        = "/sysroot"
)

// initrd does the early boot and execs the real init; it only returns on error.
func initrd() error {
	marks = append(marks, "initrd="+started)
	if err := mountAPI(); err != nil {
		return err
	}
	mark("initrd-api")
	_, args := cmdline()
	if err := loadModules("/etc/keel/modules"); err != nil {
		return err
	}
	mark("modules")
	rootSpec := args["keel.root"]
	if rootSpec == "" {
		return errors.New("no keel.root= on the kernel command line")
	}
	wait := 10 * time.Second
	rootDev, err := findPartition(rootSpec, wait)
	if err != nil {
		return err
	}
	fact("initrd.root.device", rootDev)
	mark("root-device")
	fstype := args["keel.rootfstype"]
	if fstype == "" {
		fstype = "ext4"
	}
	flags := uintptr(0)
	dev := rootDev
	if hashSpec := args["keel.verity"]; hashSpec != "" {
		hashDev, err := findPartition(hashSpec, wait)
		if err != nil {
			return err
		}
		fact("initrd.verity.hash.device", hashDev)
		if dev, err = setupVerity(rootDev, hashDev, args["keel.roothash"], args["keel.roothash.sig"]); err != nil {
			return err
		}
		flags |= syscall.MS_RDONLY
		mark("verity")
	} else if args["keel.roothash"] != "" {
		return errors.New("keel.roothash= given without keel.verity=: refusing an unverified root")
	}
	if _, ok := args["ro"]; ok {
		flags |= syscall.MS_RDONLY
	}
	if err := os.MkdirAll(newRoot, 0o755); err != nil {
		return err
	}
	if err := syscall.Mount(dev, newRoot, fstype, flags, ""); err != nil {
		return fmt.Errorf("mounting root %s (%s) on %s: %w", dev, fstype, newRoot, err)
	}
	mark("mounted")
	if err := deployIPE(); err != nil {
		return err
	}
	return switchRoot(args["keel.init"], args["keel.verity"] != "")
}

// mountAPI mounts what both modes need; already-mounted ones are kept.
func mountAPI() error {
	for _, m := range []struct {
		src, dst, fstype string
		flags            uintptr
		data             string
	}{
		{"proc", "/proc", "proc", syscall.MS_NOSUID | syscall.MS_NODEV | syscall.MS_NOEXEC, ""},
		{"sysfs", "/sys", "sysfs", syscall.MS_NOSUID | syscall.MS_NODEV | syscall.MS_NOEXEC, ""},
		{"devtmpfs", "/dev", "devtmpfs", syscall.MS_NOSUID, "mode=0755"},
		{"tmpfs", "/run", "tmpfs", syscall.MS_NOSUID | syscall.MS_NODEV, "mode=0755"},
		{"tmpfs", "/tmp", "tmpfs", syscall.MS_NOSUID | syscall.MS_NODEV, "mode=1777"},
		{"securityfs", "/sys/kernel/security", "securityfs", syscall.MS_NOSUID | syscall.MS_NODEV | syscall.MS_NOEXEC, ""},
	} {
		if mounted(m.dst) {
			continue
		}
		os.MkdirAll(m.dst, 0o755) // fails harmlessly on a read-only root where it exists
		if err := syscall.Mount(m.src, m.dst, m.fstype, m.flags, m.data); err != nil {
			if m.dst == "/sys/kernel/security" {
				continue // absent without an LSM; the fact will say so
			}
			return fmt.Errorf("mounting %s on %s: %w", m.fstype, m.dst, err)
		}
	}
	return nil
}

// mounted reports whether dir is a mount point (per /proc/self/mountinfo,
// which needs /proc: before it is mounted nothing is).
func mounted(dir string) bool {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return false
	}
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) > 4 && unescapeMount(f[4]) == dir {
			return true
		}
	}
	return false
}

// loadModules loads each module path of the list (dependencies first, as
// keel's initramfs builder ordered them). Built-in or loaded ones are fine.
// With list+".dep" ("path: dependency ...") independent modules load at the
// same time: one chain's probe waiting on its device lets another load.
func loadModules(list string) error {
	paths, err := readModuleList(list)
	if err != nil {
		return err
	}
	deps, err := readModuleDeps(list + ".dep")
	if err != nil {
		return err
	}
	if err := loadInOrder(paths, deps, list, finitModule); err != nil {
		return err
	}
	fact("initrd.modules.loaded", strconv.Itoa(len(paths)))
	return nil
}

// loadInOrder calls load for every path once all it depends on loaded.
// A dependency must come earlier in paths, which rules out cycles.
func loadInOrder(paths []string, deps map[string][]string, list string, load func(string) error) error {
	index := make(map[string]int, len(paths))
	for i, p := range paths {
		index[p] = i
	}
	done := make([]chan struct{}, len(paths))
	errs := make([]error, len(paths))
	for i, p := range paths {
		done[i] = make(chan struct{})
		need, known := deps[p]
		if !known && i > 0 {
			need = []string{paths[i-1]} // no dependency data: in list order
		}
		go func() {
			defer close(done[i])
			for _, d := range need {
				j, ok := index[d]
				if !ok || j >= i {
					errs[i] = fmt.Errorf("loading module %s: it needs %s, which %s does not list before it", p, d, list)
					return
				}
				if <-done[j]; errs[j] != nil {
					errs[i] = fmt.Errorf("loading module %s: its dependency %s failed", p, d)
					return
				}
			}
			if err := load(p); err != nil {
				errs[i] = fmt.Errorf("loading module %s: %w", p, err)
			}
		}()
	}
	for i := range paths {
		<-done[i]
	}
	// The first failure in load order is the cause; later ones follow from it.
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func readModuleList(list string) ([]string, error) {
	b, err := os.ReadFile(list)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	var paths []string
	for _, l := range strings.Split(string(b), "\n") {
		if p := strings.TrimSpace(l); p != "" && p[0] != '#' {
			paths = append(paths, p)
		}
	}
	return paths, nil
}

// readModuleDeps reads "path: dependency ..." lines; no file means no data.
func readModuleDeps(file string) (map[string][]string, error) {
	b, err := os.ReadFile(file)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	deps := map[string][]string{}
	for n, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimSpace(l); l == "" || l[0] == '#' {
			continue
		}
		p, rest, ok := strings.Cut(l, ":")
		if !ok {
			return nil, fmt.Errorf("%s:%d: want \"path: dependency ...\"", file, n+1)
		}
		deps[strings.TrimSpace(p)] = strings.Fields(rest)
	}
	return deps, nil
}

func finitModule(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	params := []byte{0}
	flags := uintptr(0)
	if !strings.HasSuffix(path, ".ko") {
		flags = 4 // MODULE_INIT_COMPRESSED_FILE: the kernel decompresses (CONFIG_MODULE_DECOMPRESS)
	}
	_, _, e := syscall.Syscall(sysFinitModule, f.Fd(), uintptrOf(params), flags)
	if e != 0 && e != syscall.EEXIST {
		return e
	}
	return nil
}

// setupVerity maps dataDev through dm-verity as /dev/mapper/root and returns
// that path, once the root hash signature is checked: by the kernel as it
// loads the table (UEFI boots, keyring.go), else here (Ed25519).
func setupVerity(dataDev, hashDev, rootHash, sigB64 string) (string, error) {
	if len(rootHash) != 64 {
		return "", fmt.Errorf("keel.roothash=%q: want 64 hex digits", rootHash)
	}
	if _, err := hex.DecodeString(rootHash); err != nil {
		return "", fmt.Errorf("keel.roothash: %w", err)
	}
	rootHash = strings.ToLower(rootHash)
	kernelCheck := kernelChecksRootHash()
	if !kernelCheck {
		if err := verifyRootHash(rootHash, sigB64, "/etc/keel/verity.pub"); err != nil {
			fact("initrd.verity.signature", "refused")
			return "", err
		}
		fact("initrd.verity.signature", "initramfs")
	}

	sbBuf := make([]byte, 512)
	hf, err := os.Open(hashDev)
	if err != nil {
		return "", err
	}
	_, err = hf.ReadAt(sbBuf, 0)
	hf.Close()
	if err != nil {
		return "", fmt.Errorf("reading verity superblock of %s: %w", hashDev, err)
	}
	sb, err := parseVeritySuperblock(sbBuf)
	if err != nil {
		return "", fmt.Errorf("%s: %w", hashDev, err)
	}
	size, err := deviceSize(dataDev)
	if err != nil {
		return "", err
	}
	if sb.dataBlocks*uint64(sb.dataBlockSize) > size {
		return "", fmt.Errorf("verity superblock of %s claims %d blocks of %d bytes, but %s has %d bytes", hashDev, sb.dataBlocks, sb.dataBlockSize, dataDev, size)
	}
	salt := "-"
	if len(sb.salt) > 0 {
		salt = hex.EncodeToString(sb.salt)
	}
	table := fmt.Sprintf("1 %s %s %d %d %d 1 sha256 %s %s",
		dataDev, hashDev, sb.dataBlockSize, sb.hashBlockSize, sb.dataBlocks, rootHash, salt)
	sectors := sb.dataBlocks * uint64(sb.dataBlockSize) / 512
	if !kernelCheck {
		return dmCreate("root", "verity", sectors, table+" 1 panic_on_corruption", true)
	}
	dev, err := withRootHashKey(func(sigArgs string) (string, error) {
		return dmCreate("root", "verity", sectors, table+" 3 panic_on_corruption "+sigArgs, true)
	})
	if err != nil {
		fact("initrd.verity.signature", "refused")
		return "", fmt.Errorf("the kernel refused the root hash signature: %w", err)
	}
	fact("initrd.verity.signature", "kernel")
	return dev, nil
}

// verifyRootHash checks an Ed25519 signature over the lowercase hex root hash
// against every PEM public key in keyFile.
func verifyRootHash(rootHash, sigB64, keyFile string) error {
	if sigB64 == "" {
		return errors.New("no keel.roothash.sig= on the kernel command line: refusing an unsigned root hash")
	}
	sig, err := base64.StdEncoding.DecodeString(sigB64)
	if err != nil || len(sig) != ed25519.SignatureSize {
		return fmt.Errorf("keel.roothash.sig: want base64 of a %d-byte Ed25519 signature", ed25519.SignatureSize)
	}
	pemData, err := os.ReadFile(keyFile)
	if err != nil {
		return fmt.Errorf("no verity public key in the initramfs: %w", err)
	}
	keys := 0
	for {
		var blk *pem.Block
		blk, pemData = pem.Decode(pemData)
		if blk == nil {
			break
		}
		pub, err := parseEd25519PKIX(blk.Bytes)
		if err != nil {
			return fmt.Errorf("%s: %w", keyFile, err)
		}
		keys++
		if ed25519.Verify(pub, []byte(rootHash), sig) {
			return nil
		}
	}
	if keys == 0 {
		return fmt.Errorf("%s holds no PEM public key", keyFile)
	}
	return fmt.Errorf("root hash %s: signature does not verify with any of the %d embedded keys", rootHash, keys)
}

// ed25519SPKIPrefix is the DER of SubjectPublicKeyInfo{AlgorithmIdentifier{
// id-Ed25519 (1.3.101.112)}, BIT STRING of 32 bytes} up to the key (RFC 8410):
// every Ed25519 PKIX key is these 12 bytes and the key. Matching them instead
// of importing crypto/x509 keeps /init small (x509 pulls in net, RSA, ECDSA),
// which is boot time twice: once from the initramfs, once through dm-verity.
var ed25519SPKIPrefix = []byte{0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00}

func parseEd25519PKIX(der []byte) (ed25519.PublicKey, error) {
	if len(der) != len(ed25519SPKIPrefix)+ed25519.PublicKeySize || !bytes.HasPrefix(der, ed25519SPKIPrefix) {
		return nil, errors.New("PUBLIC KEY is not a PKIX Ed25519 key")
	}
	return ed25519.PublicKey(der[len(ed25519SPKIPrefix):]), nil
}

// sameInit, in an initramfs, names the root's init when the image builder
// found it to be this very binary. On a dm-verity root that is a build-time
// fact under two signatures (the root hash fixes the root's copy, the signed
// UKI this one), so this process goes on as the root's PID 1 instead of
// exec'ing the identical copy: a Go start and a read of the binary through
// dm-verity saved. A writable root always gets its own init exec'd.
const sameInit = "/etc/keel/same-init"

// switchRoot moves the API mounts into the new root, frees the initramfs
// and execs the real init (as switch_root(8) does).
func switchRoot(init string, verityRoot bool) error {
	if init == "" {
		init = "/sbin/init"
	}
	if _, err := os.Stat(filepath.Join(newRoot, init)); err != nil {
		return fmt.Errorf("no init in the root: %w", err)
	}
	b, _ := os.ReadFile(sameInit)
	continueHere := verityRoot && strings.TrimSpace(string(b)) == init && !mustExec()
	if !continueHere {
		prefetch(filepath.Join(newRoot, init))
	}
	for _, d := range []string{"/dev", "/proc", "/sys", "/run"} {
		if err := syscall.Mount(d, newRoot+d, "", syscall.MS_MOVE, ""); err != nil {
			return fmt.Errorf("moving %s into the root: %w", d, err)
		}
	}
	syscall.Unmount("/tmp", syscall.MNT_DETACH)
	var st syscall.Stat_t
	syscall.Stat("/", &st)
	freeInitramfs("/", st.Dev)
	if err := os.Chdir(newRoot); err != nil {
		return err
	}
	if err := syscall.Mount(".", "/", "", syscall.MS_MOVE, ""); err != nil {
		return fmt.Errorf("moving the root to /: %w", err)
	}
	if err := syscall.Chroot("."); err != nil {
		return fmt.Errorf("chroot: %w", err)
	}
	os.Chdir("/")
	mark("switched")
	if continueHere {
		rootMode() // does not return
		return nil
	}
	// The root-mode init continues the fact count (KEEL-STATUS counts all).
	factMu.Lock()
	env := append(os.Environ(), "KEEL_FACTS="+strconv.Itoa(nFacts), "KEEL_TIMINGS="+strings.Join(marks, " "))
	factMu.Unlock()
	return execInit(init, []string{init}, env)
}

// prefetch reads a file once, in large sequential reads, so that exec finds
// it in the page cache: faulting a binary in page by page through dm-verity
// costs a device round trip and a verification per readahead window.
// Verification is unchanged (dm-verity checks every block it reads); a read
// error is left for exec to report.
func prefetch(p string) {
	f, err := os.Open(p)
	if err != nil {
		return
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	for {
		if _, err := f.Read(buf); err != nil {
			return
		}
	}
}

// freeInitramfs deletes the initramfs contents (it lives in RAM), staying on
// its filesystem.
func freeInitramfs(dir string, dev uint64) {
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		p := filepath.Join(dir, e.Name())
		var st syscall.Stat_t
		if syscall.Lstat(p, &st) != nil || st.Dev != dev {
			continue
		}
		if e.IsDir() {
			if p == newRoot {
				continue
			}
			freeInitramfs(p, dev)
			syscall.Rmdir(p)
		} else {
			syscall.Unlink(p)
		}
	}
}

func deviceSize(dev string) (uint64, error) {
	f, err := os.Open(dev)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	n, err := f.Seek(0, 2)
	if err != nil {
		return 0, fmt.Errorf("size of %s: %w", dev, err)
	}
	return uint64(n), nil
}
