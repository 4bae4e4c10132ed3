package boot

import "regexp"

// SELinuxExpect is what keel-init must report for an image whose policy
// (sha256 policySHA256) runs in mode (permissive or enforcing): the policy
// loaded is that file, the kernel enforces exactly when asked, PID 1 runs in
// kernel_t, /usr/sbin/init carries its label from the erofs or ext4 image,
// the kernel checks no class or permission the policy lacks, and under
// enforcing PID 1 itself can neither turn enforcing off nor load a policy.
func SELinuxExpect(mode, policySHA256 string) []Expectation {
	enforce := "0"
	if mode == "enforcing" {
		enforce = "1"
	}
	ex := []string{
		"selinux.mode=" + mode,
		"selinux.policy.sha256=" + policySHA256,
		"selinux.enforce=" + enforce,
		"selinux.context=system_u:system_r:kernel_t",
		"selinux.init_label~=^system_u:object_r:init_exec_t(:|$)",
		"selinux.undefined=",
	}
	if mode == "enforcing" {
		ex = append(ex, "selinux.setenforce0=EACCES", "selinux.reload=EACCES", "selinux.enforce.after=1")
	}
	return MustExpect(ex...)
}

// AVCDenied matches the kernel's AVC record of a denial by domain of perm on
// a target of type target and class class, refused (enforcing) or only
// logged (permissive=1).
func AVCDenied(domain, perm, target, class string, enforcing bool) *regexp.Regexp {
	p := map[bool]string{true: "0", false: "1"}[enforcing]
	return regexp.MustCompile(`avc:  denied  \{ ` + regexp.QuoteMeta(perm) + ` \} .*scontext=system_u:system_r:` + regexp.QuoteMeta(domain) +
		` tcontext=system_u:object_r:` + regexp.QuoteMeta(target) + ` tclass=` + regexp.QuoteMeta(class) + ` permissive=` + p)
}
