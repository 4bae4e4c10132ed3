package boot

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"regexp"
	"strings"
)

// Health checks are programs in the image's /usr/lib/keel/health.d; keel-init
// runs each with an empty environment and reports its exit code and output
// as the facts health.<name>.exit and health.<name>.output. The checks print
// raw observations; the expectations below grade them against answers
// computed here, outside the image.

// The OpenSSL health checks shipped by the openssl package.
const (
	OpenSSLProbe     = "50-openssl"           // openssl-probe: config, providers, SHA-256, MD5, AES-256-GCM
	OpenSSLProviders = "51-openssl-providers" // `openssl list -providers`
)

// FIPSMode reports whether a kernel command line asks for FIPS mode (fips=1).
func FIPSMode(cmdline string) bool {
	for _, f := range strings.Fields(cmdline) {
		if f == "fips=1" {
			return true
		}
	}
	return false
}

// Known answers for the probe's fixed inputs: SHA-256 and MD5 of "abc", and
// AES-256-GCM with key 00..1f, IV 00..0b, AAD "keel", plaintext "keel-fips".
func knownAnswers() (sha, md, gcmCT, gcmTag string) {
	s := sha256.Sum256([]byte("abc"))
	m := md5.Sum([]byte("abc"))
	key, iv := make([]byte, 32), make([]byte, 12)
	for i := range key {
		key[i] = byte(i)
	}
	for i := range iv {
		iv[i] = byte(i)
	}
	b, _ := aes.NewCipher(key)
	g, _ := cipher.NewGCM(b)
	out := g.Seal(nil, iv, []byte("keel-fips"), []byte("keel"))
	return hex.EncodeToString(s[:]), hex.EncodeToString(m[:]), hex.EncodeToString(out[:9]), hex.EncodeToString(out[9:])
}

// OpenSSLExpect is what the OpenSSL health checks must show: in FIPS mode,
// the kernel reports fips_enabled=1, libcrypto chose openssl-fips.cnf, the
// FIPS provider is active and serves SHA-256 and AES-256-GCM with correct
// results, the default provider is absent and MD5 is refused; otherwise the
// default provider serves all three, MD5 included.
func OpenSSLExpect(fips bool) []Expectation {
	sha, md, ct, tag := knownAnswers()
	probe := "health." + OpenSSLProbe + ".output"
	line := func(k, v string) string { return probe + "~=(?m)^" + regexp.QuoteMeta(k+"="+v) + "$" }
	noLine := func(k string) string { return probe + "!~(?m)^" + regexp.QuoteMeta(k+"=") }
	cli := "health." + OpenSSLProviders + ".output"
	block := func(id, name string) string {
		return `(?m)^\s*` + id + `\n\s+name: ` + regexp.QuoteMeta(name) + `\n\s+version: [0-9.]+\n\s+status: active$`
	}
	// The checks that name the cause come first: a failed boot's reason
	// starts with them.
	ex := []string{"fips_enabled=0"}
	if fips {
		ex = []string{"fips_enabled=1", line("provider.fips.status", "1")}
	}
	ex = append(ex,
		"health."+OpenSSLProbe+".exit=0",
		"health."+OpenSSLProviders+".exit=0",
		line("init.result", "ok"),
		line("SHA256.result", "ok"),
		line("SHA256.value", sha),
		line("AES-256-GCM.result", "ok"),
		line("AES-256-GCM.ciphertext", ct),
		line("AES-256-GCM.tag", tag),
	)
	if fips {
		ex = append(ex,
			line("config", "/etc/ssl/openssl-fips.cnf"),
			line("default_properties.fips", "1"),
			noLine("provider.default.status"),
			line("SHA256.provider", "fips"),
			line("AES-256-GCM.provider", "fips"),
			line("MD5.result", "refused"),
			cli+"~="+block("fips", "OpenSSL FIPS Provider"),
			cli+"!~OpenSSL Default Provider",
		)
	} else {
		ex = append(ex,
			line("config", "/etc/ssl/openssl.cnf"),
			line("default_properties.fips", "0"),
			line("provider.default.status", "1"),
			noLine("provider.fips.status"),
			line("SHA256.provider", "default"),
			line("AES-256-GCM.provider", "default"),
			line("MD5.result", "ok"),
			line("MD5.value", md),
			cli+"~="+block("default", "OpenSSL Default Provider"),
			cli+"!~OpenSSL FIPS Provider",
		)
	}
	return MustExpect(ex...)
}

// ImageExpect is everything a booted image is checked against: its variant's
// presets (fips is a vm in FIPS mode), the kernel release it installed, the
// dm-verity root hash its command line must carry (rootHash, "" for none),
// the OpenSSL checks when the openssl package is installed (FIPS or default
// mode, as its kernel command line says) and, in FIPS mode, that the kernel
// agrees. packages are the installed package names.
func ImageExpect(variant, kernelRelease, cmdline, rootHash string, packages []string) ([]Expectation, error) {
	preset := variant
	switch variant {
	case "fips":
		preset = "vm"
	case "vm", "hwe", "guard":
	default:
		preset = ""
	}
	ex, err := Expect(preset, kernelRelease)
	if err != nil {
		return nil, err
	}
	if rootHash != "" {
		ex = append(ex, MustExpect("kernel.cmdline~=keel.roothash="+rootHash)...)
	}
	if variant == "guard" {
		// OS Guard runs SELinux: a guard image without a loaded policy
		// fails its boot (and the release's boot gate), whatever its
		// manifest says (the policy's own facts: SELinuxExpect).
		ex = append(ex, MustExpect("selinux.mode~=^(permissive|enforcing)$", "selinux.policy.sha256~=^[0-9a-f]{64}$")...)
	}
	fips := FIPSMode(cmdline)
	hasOpenSSL := false
	for _, p := range packages {
		hasOpenSSL = hasOpenSSL || p == "openssl"
	}
	switch {
	case hasOpenSSL:
		ex = append(ex, OpenSSLExpect(fips)...)
	case fips:
		ex = append(ex, MustExpect("fips_enabled=1")...)
	}
	return ex, nil
}

// shown is the part of a multi-line fact (a health check's output) worth
// quoting in a failure: the line an anchored line expectation is about, or
// the whole value, truncated.
func shown(e Expectation, v string) string {
	if !strings.Contains(v, "\n") {
		return v
	}
	if pat, ok := strings.CutPrefix(e.Value, "(?m)^"); ok {
		if k, _, ok := strings.Cut(strings.ReplaceAll(pat, `\`, ""), "="); ok {
			var lines []string
			for _, l := range strings.Split(v, "\n") {
				if strings.HasPrefix(l, k+"=") {
					lines = append(lines, l)
				}
			}
			if len(lines) == 0 {
				return "no " + k + "= line"
			}
			return strings.Join(lines, "\n")
		}
	}
	if len(v) > 400 {
		return v[:400] + "..."
	}
	return v
}
