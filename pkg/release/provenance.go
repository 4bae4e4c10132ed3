package release

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/keel-linux/keel/pkg/build"
	"github.com/keel-linux/keel/pkg/distro"
	"github.com/keel-linux/keel/pkg/intoto"
	"github.com/keel-linux/keel/pkg/pgp"
	"github.com/keel-linux/keel/pkg/release/manifest"
	"github.com/keel-linux/keel/pkg/repo"
	"github.com/keel-linux/keel/pkg/source"
)

// BuildType names how Keel builds an RPM, for SLSA consumers.
const BuildType = "https://keel-linux.invalid/provenance/rpmbuild/v1"

type pgpSigner struct {
	k *pgp.Key
	t time.Time
}

func (s pgpSigner) KeyID() string { return s.k.Fingerprint() }
func (s pgpSigner) Sign(msg []byte) ([]byte, error) {
	return s.k.Sign(bytes.NewReader(msg), s.t)
}

// writeProvenance writes provenance/<rpm file>.intoto.json: a DSSE-signed
// in-toto statement with an SLSA v1 predicate per binary package, naming
// the spec, every pinned source and the build key.
func writeProvenance(dir string, m *manifest.Manifest, b *build.Result, d *distro.Distro, opt Options) error {
	if err := os.MkdirAll(filepath.Join(dir, manifest.ProvDir), 0o755); err != nil {
		return err
	}
	bySource := map[string]*build.Package{}
	for _, p := range b.Packages {
		bySource[p.Name] = p
	}
	signer := pgpSigner{opt.Key, opt.Date}
	for _, bp := range m.Packages {
		bpkg := bySource[bp.Source]
		if bpkg == nil {
			return fmt.Errorf("provenance: %s has no source package %q in this build", bp.File, bp.Source)
		}
		specDir := filepath.Join(d.SpecsDir(), bp.Source)
		specSum, err := source.Hash(filepath.Join(specDir, bp.Source+".spec"))
		if err != nil {
			return err
		}
		deps := []intoto.ResourceDescriptor{{Name: "SPECS/" + bp.Source + "/" + bp.Source + ".spec", Digest: map[string]string{"sha256": specSum}}}
		if man, err := source.LoadManifest(specDir, bp.Source); err == nil {
			for _, f := range man.Files() {
				if sum, ok := man.Signatures[f]; ok {
					deps = append(deps, intoto.ResourceDescriptor{Name: f, URI: man.Origins[f], Digest: map[string]string{"sha256": sum}})
				}
			}
		}
		st := &intoto.Statement{
			Type:          intoto.StatementType,
			Subject:       []intoto.Subject{{Name: filepath.Base(bp.File), Digest: map[string]string{"sha256": bp.SHA256}}},
			PredicateType: intoto.SLSAProvenanceType,
			Predicate: intoto.Provenance{
				BuildDefinition: intoto.BuildDefinition{
					BuildType: BuildType,
					ExternalParameters: map[string]any{
						"distro": d.Config.Name + "-" + d.Config.Version, "package": bp.Source, "release": m.Version,
						"git": m.Git,
					},
					InternalParameters:   map[string]any{"cache_key": bpkg.Key, "sandbox": d.Config.Build.Sandbox},
					ResolvedDependencies: deps,
				},
				RunDetails: intoto.RunDetails{
					Builder:  intoto.Builder{ID: "https://keel-linux.invalid/keel", Version: map[string]string{"keel": m.Keel}},
					Metadata: intoto.Metadata{InvocationID: m.Version + "/" + bp.Source},
				},
			},
		}
		env, err := intoto.Seal(st, signer)
		if err != nil {
			return err
		}
		data, _ := json.MarshalIndent(env, "", "  ")
		if err := os.WriteFile(filepath.Join(dir, manifest.ProvDir, filepath.Base(bp.File)+".intoto.json"), append(data, '\n'), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// VerifyReport lists what `keel verify` found wrong.
type VerifyReport struct {
	Release  string   `json:"release"`
	Checked  int      `json:"artifacts_checked"`
	Problems []string `json:"problems"`
}

// Verify checks a downloaded release end to end against trusted keys: the
// manifest's signature, every artifact's digest (and that nothing
// unlisted was added), every provenance envelope and its subject, and the
// repository's signed metadata and packages.
func Verify(ctx context.Context, dir string, kr *pgp.Keyring) (*VerifyReport, error) {
	rep := &VerifyReport{Release: dir, Problems: []string{}}
	data, err := os.ReadFile(filepath.Join(dir, manifest.ManifestFile))
	if err != nil {
		return nil, err
	}
	sig, err := os.ReadFile(filepath.Join(dir, manifest.ManifestSig))
	if err != nil {
		rep.Problems = append(rep.Problems, "manifest.json is not signed: "+err.Error())
	} else if _, err := kr.Verify(bytes.NewReader(data), sig); err != nil {
		rep.Problems = append(rep.Problems, "manifest.json signature: "+err.Error())
	}
	var m manifest.Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", manifest.ManifestFile, err)
	}
	if err := verifyArtifacts(dir, &m); err != nil {
		rep.Problems = append(rep.Problems, strings.Split(err.Error(), "\n")...)
	}
	rep.Checked = len(m.Artifacts)
	sums := map[string]string{}
	for _, p := range m.Packages {
		sums[filepath.Base(p.File)] = p.SHA256
	}
	for _, p := range m.Packages {
		envPath := filepath.Join(dir, manifest.ProvDir, filepath.Base(p.File)+".intoto.json")
		raw, err := os.ReadFile(envPath)
		if err != nil {
			rep.Problems = append(rep.Problems, "no provenance for "+p.File)
			continue
		}
		var env intoto.Envelope
		if err := json.Unmarshal(raw, &env); err != nil {
			rep.Problems = append(rep.Problems, envPath+": "+err.Error())
			continue
		}
		st, err := intoto.Open(&env, func(msg, sig []byte) error { _, err := kr.Verify(bytes.NewReader(msg), sig); return err })
		if err != nil {
			rep.Problems = append(rep.Problems, fmt.Sprintf("provenance of %s: %v", p.File, err))
			continue
		}
		if len(st.Subject) != 1 || st.Subject[0].Digest["sha256"] != sums[st.Subject[0].Name] {
			rep.Problems = append(rep.Problems, fmt.Sprintf("provenance of %s names another artifact or digest", p.File))
		}
	}
	rr, err := repo.Verify(ctx, repo.VerifyOptions{Dir: filepath.Join(dir, manifest.RepoDir), Keyring: kr})
	if err != nil {
		rep.Problems = append(rep.Problems, "repository: "+err.Error())
	} else {
		for _, p := range rr.Problems {
			rep.Problems = append(rep.Problems, fmt.Sprintf("repository: %s: %s", p.Path, p.What))
		}
	}
	return rep, nil
}

// verifyArtifacts checks every listed file's digest, and that no file
// was added that the manifest does not list.
func verifyArtifacts(dir string, m *manifest.Manifest) error {
	var problems []string
	listed := map[string]bool{}
	for _, a := range m.Artifacts {
		listed[a.Path] = true
		sum, err := source.Hash(filepath.Join(dir, a.Path))
		switch {
		case err != nil:
			problems = append(problems, fmt.Sprintf("%s: %v", a.Path, err))
		case sum != a.SHA256:
			problems = append(problems, fmt.Sprintf("%s: sha256 %s, manifest says %s", a.Path, sum, a.SHA256))
		}
	}
	probe := &manifest.Manifest{}
	if err := collectArtifacts(probe, dir); err != nil {
		return err
	}
	for _, a := range probe.Artifacts {
		if !listed[a.Path] {
			problems = append(problems, a.Path+": not listed in the manifest")
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("%s", strings.Join(problems, "\n"))
	}
	return nil
}
