package image

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"strings"

	"golang.org/x/sync/errgroup"

	"github.com/keel-linux/keel/pkg/pgp"
	"github.com/keel-linux/keel/pkg/repo/remote"
	"github.com/keel-linux/keel/pkg/repodata"
	"github.com/keel-linux/keel/pkg/resolve"
	"github.com/keel-linux/keel/pkg/rpm"
)

// trustedKeys gathers the keys a build trusts: Options.Trusted, the
// --trust specs and the definition's trusted_keys (paths relative to the
// definition); only when none is given, the key store's. Never a key the
// repository ships: its RPM-GPG-KEY-* is what it says about itself.
func trustedKeys(d *Definition, opt Options) (*pgp.Keyring, error) {
	kr := opt.Trusted
	if kr == nil {
		kr = &pgp.Keyring{}
	}
	more, err := pgp.LoadTrusted(opt.TrustedKeys, "", opt.KeyStore)
	if err != nil {
		return nil, err
	}
	kr = kr.Merge(more)
	base := ""
	if d.path != "" && !strings.HasPrefix(d.path, "(") {
		base = filepath.Dir(d.path)
	}
	more, err = pgp.LoadTrusted(d.TrustedKeys, base, opt.KeyStore)
	if err != nil {
		return nil, fmt.Errorf("%s: trusted_keys: %w", d.path, err)
	}
	kr = kr.Merge(more)
	if kr.Len() == 0 && opt.KeyStore != "" {
		if kr, err = pgp.StoreKeyring(opt.KeyStore); err != nil {
			return nil, err
		}
	}
	if kr.Len() == 0 {
		store := opt.KeyStore
		if store == "" {
			store = "(none given)"
		}
		return nil, fmt.Errorf("no trusted key to check the repository's signatures with: pass --trust PATH|FINGERPRINT, set trusted_keys in the image definition or put the key in the key store %s (keel keys init makes one); --allow-unsigned composes without checking", store)
	}
	return kr, nil
}

// readRepomd fetches src's repomd.xml (never from the cache: it is what
// says whether the cache is current) and, unless kr is nil
// (--allow-unsigned), checks its detached signature (repomd.xml.asc, as
// keel repo publish writes it) before anything it lists is read.
func readRepomd(ctx context.Context, cache *remote.Cache, src remote.Source, kr *pgp.Keyring) (*repodata.Repomd, error) {
	md, err := cache.Get(ctx, src, "repodata/repomd.xml", maxRepomd)
	if errors.Is(err, remote.ErrNotFound) {
		return nil, repodata.ErrNoRepo
	}
	if err != nil {
		return nil, err
	}
	if kr != nil {
		asc, err := cache.Get(ctx, src, "repodata/repomd.xml.asc", maxRepomd)
		if errors.Is(err, remote.ErrNotFound) {
			return nil, errors.New("repodata/repomd.xml is not signed (no repomd.xml.asc): sign it (keel repo publish, or keel repo index with a key), or pass --allow-unsigned to compose from it unchecked")
		}
		if err != nil {
			return nil, err
		}
		if _, err := kr.Verify(bytes.NewReader(md), asc); err != nil {
			return nil, fmt.Errorf("repodata/repomd.xml: %w%s", err, ownKeyHint(src.LocalPath(""), err))
		}
	}
	return repodata.ParseRepomd(md)
}

// maxRepomd bounds what is read of repomd.xml and its signature before
// either is checked.
const maxRepomd = 16 << 20

// ownKeyHint says so when an untrusted signer is the key the repository
// ships: trust on first use is the user's decision, never Keel's.
func ownKeyHint(dir string, err error) string {
	var ue *pgp.UntrustedError
	if dir == "" || !errors.As(err, &ue) {
		return ""
	}
	files, _ := filepath.Glob(filepath.Join(dir, "RPM-GPG-KEY-*"))
	for _, f := range files {
		kr, err := pgp.LoadKeyring(f)
		if err != nil {
			continue
		}
		for _, fp := range kr.Fingerprints() {
			if strings.HasSuffix(fp, ue.Signer) {
				return fmt.Sprintf("; the repository ships that key (%s), which Keel never trusts on the repository's word: pass --trust %s if you do", filepath.Base(f), f)
			}
		}
	}
	return ""
}

// checkHeaders reads every package's header before anything is extracted:
// its header signature is checked against kr (nil: --allow-unsigned), and
// the newest build time is returned (the default SOURCE_DATE_EPOCH). The
// signed header carries the payload digest, which openChecked verifies
// before extracting, and the file's sha256, from the signed metadata.
func checkHeaders(ctx context.Context, pkgs []*resolve.Package, kr *pgp.Keyring) (int64, error) {
	errs := make([]error, len(pkgs))
	times := make([]int64, len(pkgs))
	var g errgroup.Group
	g.SetLimit(runtime.GOMAXPROCS(0))
	for i, p := range pkgs {
		g.Go(func() error {
			if ctx.Err() == nil {
				times[i], errs[i] = checkHeader(p, kr)
			}
			return nil
		})
	}
	g.Wait()
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if err := firstError(errs, "packages"); err != nil {
		return 0, err
	}
	var newest int64
	for _, t := range times {
		newest = max(newest, t)
	}
	return newest, nil
}

func checkHeader(p *resolve.Package, kr *pgp.Keyring) (int64, error) {
	if !repodata.ValidHref(p.Href) {
		return 0, fmt.Errorf("%s: location %q leaves the repository", p.NEVRA(), p.Href)
	}
	pk, err := rpm.Open(pkgPath(p))
	if err != nil {
		return 0, fmt.Errorf("%s: %w", p.NEVRA(), err)
	}
	if kr != nil {
		sig := pk.HeaderSignature()
		if sig == nil {
			return 0, fmt.Errorf("%s (%s): not signed; every package must be signed by a trusted key (or pass --allow-unsigned)", p.NEVRA(), p.Href)
		}
		if _, err := kr.Verify(bytes.NewReader(pk.HeaderBlob), sig); err != nil {
			return 0, fmt.Errorf("%s (%s): %w%s", p.NEVRA(), p.Href, err, ownKeyHint(p.Repo, err))
		}
	}
	return pk.Header.BuildTime().Unix(), nil
}
