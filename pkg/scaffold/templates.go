package scaffold

// templates: paths use {{.X}}, bodies [[.X]] (rpm's %{...} and YAML's {}
// stay readable).
var templates = map[string]string{
	"keel.yaml": `# [[.Pretty]]: the distribution this tree builds, with Keel (keel init).
# Every name Keel writes (os-release, RPM-GPG-KEY-[[.Name]], [[.Name]].repo, purls,
# release notes and dashboard) comes from here.
name: [[.Name]]
pretty_name: [[.Pretty]]
version: "[[.Version]]"
dist_tag: [[.Dist]]
arch: x86_64
vendor: [[.Pretty]] Project
home_url: https://[[.Name]].invalid/
bug_url: https://[[.Name]].invalid/issues

# Each package's timestamps come from its newest %changelog entry.
source_date_epoch: changelog

macros:
  vendor: [[.Pretty]] Project
  distribution: [[.Pretty]] [[.Version]]

build:
  jobs: 0          # parallel package builds; 0 = number of CPUs
  sandbox: bwrap

hardening:
  require: [pie, relro, bindnow, nxstack, canary, fortify, norpath]
  exemptions: []

release:
  kernel_policy: kernel-policy.yaml
  exceptions: []
`,
	"README.md": `# [[.Pretty]]

A distribution tree for Keel, made by ` + "`keel init`" + `. Try:

    keel -C . specs                 # what the specs say
    keel -C . build                 # sandboxed rpmbuild of every package
    keel keys init                  # the signing key (once per machine)
    keel -C . release cut --allow-dirty   # releases/[[.Version]].YYYYMMDD/

Layout: keel.yaml (the distribution), SPECS/<package>/ (a spec and its
sources), images/*.yaml (image definitions), kernel-policy.yaml (the kernel
options a kernel package must have), advisories/ (CVE records).
`,
	"kernel-policy.yaml": `# Kernel options every kernel package of [[.Pretty]] must have (release gate).
name: [[.Name]]-[[.Version]]
options:
  - {option: CONFIG_DM_VERITY, values: [y, m], why: "verified read-only roots"}
  - {option: CONFIG_STACKPROTECTOR_STRONG, values: [y], why: "kernel stack canaries"}
  - {option: CONFIG_RANDOMIZE_BASE, values: [y], why: "KASLR"}
`,
	"advisories/README.md": `CVE records of [[.Pretty]] (OSV JSON), written by keel advisories sync and
keel advisories evidence.
`,
	"SPECS/{{.Macros}}/{{.Macros}}.spec": `Name:           [[.Macros]]
Version:        [[.Version]]
Release:        1%{?dist}
Summary:        Build macros for [[.Pretty]]: hardening flags
License:        MIT
BuildArch:      noarch
Source0:        macros.[[.Name]]

%description
RPM macros every [[.Pretty]] package is built with: compiler and linker
hardening (PIE, stack protector, FORTIFY_SOURCE, full RELRO, BIND_NOW).
Packages that BuildRequire it get them loaded by keel build.

%prep

%build

%install
install -D -m 0644 %{SOURCE0} %{buildroot}/usr/lib/rpm/macros.d/macros.[[.Name]]
printf '%%%%dist %s\n' '%{?dist}' >> %{buildroot}/usr/lib/rpm/macros.d/macros.[[.Name]]

%files
/usr/lib/rpm/macros.d/macros.[[.Name]]

%changelog
* [[.Date]] [[.Pretty]] Project <packager@[[.Name]].invalid> - [[.Version]]-1
- [[.Pretty]] [[.Version]] build macros.
`,
	"SPECS/{{.Macros}}/macros.{{.Name}}": `# [[.Pretty]] build macros (/usr/lib/rpm/macros.d/macros.[[.Name]]).
# Debian's rpm adds no hardening (optflags "-O2 -g", empty ldflags).
%_[[.Name]]_hardening_cflags -fstack-protector-strong -D_FORTIFY_SOURCE=2 -fstack-clash-protection -fcf-protection -fPIE
%_[[.Name]]_hardening_ldflags -Wl,-z,relro -Wl,-z,now -Wl,-z,noexecstack -pie
%optflags -O2 -g -pipe -Wall -Werror=format-security %{_[[.Name]]_hardening_cflags}
%build_cflags %{optflags}
%build_cxxflags %{optflags}
%build_ldflags %{_[[.Name]]_hardening_ldflags}
%debug_package %{nil}
`,
	"SPECS/{{.Release}}/{{.Release}}.spec": `Name:           [[.Release]]
Version:        %{keel_version}
Release:        1%{?dist}
Summary:        [[.Pretty]] release files (os-release)
License:        MIT
BuildArch:      noarch

%description
/usr/lib/os-release and /etc/os-release for [[.Pretty]]; the values come
from keel.yaml (keel build defines the keel_* macros).

%prep

%build
cat > os-release <<EOF2
NAME="%{keel_pretty_name}"
ID=%{keel_name}
VERSION="%{keel_version}"
VERSION_ID=%{keel_version}
PRETTY_NAME="%{keel_pretty_name} %{keel_version}"
HOME_URL="%{keel_home_url}"
BUG_REPORT_URL="%{keel_bug_url}"
EOF2

%install
install -D -m 0644 os-release %{buildroot}/usr/lib/os-release
mkdir -p %{buildroot}/etc
ln -s ../usr/lib/os-release %{buildroot}/etc/os-release
echo "%{keel_pretty_name} %{keel_version}" > %{buildroot}/etc/[[.Name]]-release

%files
/usr/lib/os-release
/etc/os-release
/etc/[[.Name]]-release

%changelog
* [[.Date]] [[.Pretty]] Project <packager@[[.Name]].invalid> - [[.Version]]-1
- [[.Pretty]] [[.Version]].
`,
	"SPECS/example/example.spec": `Name:           example
Version:        1.0
Release:        1%{?dist}
Summary:        An example package: start your own from this one
License:        MIT
BuildArch:      noarch
BuildRequires:  [[.Macros]]

%description
A file under /usr/share/example, to show the shape of a spec: sources
beside it (SPECS/example/), pins in example.signatures.json when it has
upstream sources, %changelog dates as its SOURCE_DATE_EPOCH.

%prep

%build
echo "Hello from %{keel_pretty_name} %{keel_version}." > hello.txt

%install
install -D -m 0644 hello.txt %{buildroot}/usr/share/example/hello.txt

%files
/usr/share/example/hello.txt

%changelog
* [[.Date]] [[.Pretty]] Project <packager@[[.Name]].invalid> - 1.0-1
- First example.
`,
	"images/base.yaml": `# A container image with the release files and the example package.
name: base
description: [[.Pretty]] [[.Version]] base container
kind: container
arch: x86_64
packages:
  - [[.Release]]
  - example
rpmdb: true
container:
  labels:
    org.opencontainers.image.title: [[.Name]]-base
    org.opencontainers.image.vendor: [[.Pretty]] Project
outputs:
  - format: oci
    tag: latest
`,
}
