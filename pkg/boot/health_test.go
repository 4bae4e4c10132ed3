package boot

import (
	"context"
	"strings"
	"testing"
)

// Probe and CLI outputs as the openssl package's health checks print them.
const (
	fipsProbe = `version=3.0.22
config=/etc/ssl/openssl-fips.cnf
init.result=ok
default_properties.fips=1
provider.base.status=1
provider.fips.status=1
SHA256.result=ok
SHA256.provider=fips
SHA256.value=ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad
MD5.result=refused
MD5.error=error:0308010C:digital envelope routines::unsupported
AES-256-GCM.result=ok
AES-256-GCM.provider=fips
AES-256-GCM.ciphertext=2c67b377e883ab6bfe
AES-256-GCM.tag=af594f10439494e2b3ae54db1c32390b`
	fipsCLI = `Providers:
  base
    name: OpenSSL Base Provider
    version: 3.0.22
    status: active
  fips
    name: OpenSSL FIPS Provider
    version: 3.0.22
    status: active`
	defaultProbe = `version=3.0.22
config=/etc/ssl/openssl.cnf
init.result=ok
default_properties.fips=0
provider.default.status=1
SHA256.result=ok
SHA256.provider=default
SHA256.value=ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad
MD5.result=ok
MD5.provider=default
MD5.value=900150983cd24fb0d6963f7d28e17f72
AES-256-GCM.result=ok
AES-256-GCM.provider=default
AES-256-GCM.ciphertext=2c67b377e883ab6bfe
AES-256-GCM.tag=af594f10439494e2b3ae54db1c32390b`
	tamperedProbe = `version=3.0.22
config=/etc/ssl/openssl-fips.cnf
init.result=ok
default_properties.fips=1
provider.base.status=1
SHA256.result=refused
SHA256.error=error:0308010C:digital envelope routines::unsupported
MD5.result=refused
MD5.error=error:0308010C:digital envelope routines::unsupported
AES-256-GCM.result=refused
AES-256-GCM.error=error:0308010C:digital envelope routines::unsupported`
	defaultCLI = `Providers:
  default
    name: OpenSSL Default Provider
    version: 3.0.22
    status: active`
)

func TestOpenSSLExpect(t *testing.T) {
	facts := func(fipsEnabled, probe, cli string) map[string]string {
		return map[string]string{"fips_enabled": fipsEnabled,
			"health.50-openssl.exit": "0", "health.50-openssl.output": probe,
			"health.51-openssl-providers.exit": "0", "health.51-openssl-providers.output": cli}
	}
	for _, tc := range []struct {
		name  string
		fips  bool
		facts map[string]string
		fail  string // substring of the first failure; "" = all met
	}{
		{"fips ok", true, facts("1", fipsProbe, fipsCLI), ""},
		{"default ok", false, facts("0", defaultProbe, defaultCLI), ""},
		{"fips expected, kernel not in fips mode", true, facts("0", fipsProbe, fipsCLI), "fips_enabled=1"},
		{"md5 works in fips mode", true, facts("1", strings.Replace(fipsProbe, "MD5.result=refused", "MD5.result=ok", 1), fipsCLI), "MD5.result=refused"},
		{"default provider answered", true, facts("1", strings.Replace(fipsProbe, "SHA256.provider=fips", "SHA256.provider=default", 1), fipsCLI), "SHA256.provider=fips"},
		{"wrong digest", true, facts("1", strings.Replace(fipsProbe, "ba7816bf", "ba7816bd", 1), fipsCLI), "SHA256.value"},
		{"wrong tag", false, facts("0", strings.Replace(defaultProbe, "af594f10", "af594f11", 1), defaultCLI), "AES-256-GCM.tag"},
		{"default provider loaded in fips mode", true, facts("1", fipsProbe+"\nprovider.default.status=1", fipsCLI), "provider.default.status"},
		{"cli shows default in fips mode", true, facts("1", fipsProbe, defaultCLI), "OpenSSL FIPS Provider"},
		// What the fips image printed with one byte of fips.so changed.
		{"tampered module", true, facts("1", tamperedProbe, "Providers:\n  base\n    name: OpenSSL Base Provider\n    version: 3.0.22\n    status: active"), "provider.fips.status=1"},
		{"probe crashed", false, map[string]string{"fips_enabled": "0", "health.50-openssl.exit": "139", "health.50-openssl.output": defaultProbe,
			"health.51-openssl-providers.exit": "0", "health.51-openssl-providers.output": defaultCLI}, "health.50-openssl.exit=0"},
		{"no health checks ran", false, map[string]string{"fips_enabled": "0"}, "was not reported"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var fails []string
			for _, e := range OpenSSLExpect(tc.fips) {
				if why := e.check(tc.facts); why != "" {
					fails = append(fails, why)
				}
			}
			switch {
			case tc.fail == "" && len(fails) > 0:
				t.Errorf("unexpected failures: %v", fails)
			case tc.fail != "" && len(fails) == 0:
				t.Errorf("passed; want a failure about %q", tc.fail)
			case tc.fail != "" && !strings.Contains(strings.ReplaceAll(fails[0], `\`, ""), tc.fail):
				t.Errorf("first failure %q; want one about %q (all: %v)", fails[0], tc.fail, fails)
			}
		})
	}
}

func TestImageExpect(t *testing.T) {
	for _, tc := range []struct {
		variant, cmdline string
		pkgs             []string
		want, notWant    string
	}{
		{"fips", "console=ttyS0 fips=1", []string{"kernel", "openssl"}, "fips_enabled=1", ""},
		{"vm", "console=ttyS0", []string{"kernel", "openssl"}, "fips_enabled=0", ""},
		{"guard", "console=ttyS0", []string{"kernel"}, "root.write=EROFS", "health.50-openssl"},
		{"guard", "console=ttyS0", []string{"kernel"}, "selinux.mode~=^(permissive|enforcing)$", ""},
		{"fips", "fips=1", nil, "fips_enabled=1", "health.50-openssl"},
		{"custom", "", nil, "kernel.release=6.1", "root.write"},
	} {
		ex, err := ImageExpect(tc.variant, "6.1", tc.cmdline, "", tc.pkgs)
		if err != nil {
			t.Fatal(err)
		}
		var all []string
		for _, e := range ex {
			all = append(all, e.String())
		}
		s := strings.Join(all, "\n")
		if !strings.Contains(s, tc.want) || tc.notWant != "" && strings.Contains(s, tc.notWant) {
			t.Errorf("%s %q %v: want %q, not %q in:\n%s", tc.variant, tc.cmdline, tc.pkgs, tc.want, tc.notWant, s)
		}
	}
}

func TestSaveVarsNeedsFirmware(t *testing.T) {
	_, err := Run(context.Background(), Options{Firmware: Direct, Kernel: "/nonexistent/vmlinuz", SaveVars: t.TempDir() + "/vars.fd"})
	if err == nil || !strings.Contains(err.Error(), "saving OVMF vars needs a firmware boot") {
		t.Errorf("direct boot with SaveVars: %v", err)
	}
}
