package repo

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/keel-linux/keel/pkg/pgp"
	"github.com/keel-linux/keel/pkg/repodata"
	"github.com/keel-linux/keel/pkg/rpm"
)

// VerifyOptions controls Verify.
type VerifyOptions struct {
	Dir     string
	Keyring *pgp.Keyring // trusted keys; default: the repo's own RPM-GPG-KEY-keel is NOT trusted implicitly
}

// Problem is one thing wrong with a repository.
type Problem struct {
	Path string `json:"path"`
	What string `json:"what"`
}

// VerifyReport lists what Verify checked and found.
type VerifyReport struct {
	Packages int       `json:"packages"`
	Signer   string    `json:"signer"`
	Problems []Problem `json:"problems"`
}

// ErrVerify is returned (wrapped) when a repository has problems.
var ErrVerify = errors.New("repository verification failed")

// Verify checks the whole repository against trusted keys: repomd.xml's
// detached signature, every metadata checksum, and for every package its
// file checksum, header signature, header and payload digests and that its
// header matches the metadata.
func Verify(ctx context.Context, opt VerifyOptions) (*VerifyReport, error) {
	if opt.Keyring == nil {
		return nil, errors.New("verify: no trusted key given")
	}
	rep := &VerifyReport{}
	add := func(p, format string, a ...any) {
		rep.Problems = append(rep.Problems, Problem{p, fmt.Sprintf(format, a...)})
	}
	md, err := os.ReadFile(filepath.Join(opt.Dir, linkName, "repomd.xml"))
	if err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}
	asc, err := os.ReadFile(filepath.Join(opt.Dir, linkName, "repomd.xml.asc"))
	if err != nil {
		add("repodata/repomd.xml.asc", "missing: %v", err)
	} else if fp, err := opt.Keyring.Verify(bytes.NewReader(md), asc); err != nil {
		add("repodata/repomd.xml.asc", "%v", err)
	} else {
		rep.Signer = fp
	}
	repomd, err := repodata.ParseRepomd(md)
	if err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}
	pkgs, err := repodata.ReadPackages(opt.Dir, repomd)
	if err != nil {
		add("repodata", "%v", err)
		return rep, fmt.Errorf("%w: %d problems", ErrVerify, len(rep.Problems))
	}
	rep.Packages = len(pkgs)
	for _, mp := range pkgs {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := verifyPackage(opt, mp); err != nil {
			add(mp.Href, "%v", err)
		}
	}
	if len(rep.Problems) > 0 {
		return rep, fmt.Errorf("%w: %d problems", ErrVerify, len(rep.Problems))
	}
	return rep, nil
}

func verifyPackage(opt VerifyOptions, mp *repodata.Package) error {
	f, err := os.Open(filepath.Join(opt.Dir, filepath.FromSlash(mp.Href)))
	if err != nil {
		return err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return err
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != mp.PkgID {
		return fmt.Errorf("checksum %s does not match the metadata's %s", got, mp.PkgID)
	}
	p, err := rpm.Open(f.Name())
	if err != nil {
		return err
	}
	if p.NEVRA() != mp.NEVRA() {
		return fmt.Errorf("package is %s but the metadata says %s", p.NEVRA(), mp.NEVRA())
	}
	sig := p.HeaderSignature()
	if sig == nil {
		return errors.New("unsigned package")
	}
	if _, err := opt.Keyring.Verify(bytes.NewReader(p.HeaderBlob), sig); err != nil {
		return fmt.Errorf("header signature: %w", err)
	}
	return p.VerifyDigests()
}
