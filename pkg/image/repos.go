package image

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"

	"golang.org/x/sync/errgroup"

	"github.com/keel-linux/keel/pkg/pgp"
	"github.com/keel-linux/keel/pkg/repo/remote"
	"github.com/keel-linux/keel/pkg/repodata"
	"github.com/keel-linux/keel/pkg/resolve"
)

// LoadRepos reads the metadata of the repositories specs name (directories
// or URLs, see remote.Open): each repomd.xml is fetched afresh and checked
// against trusted (nil: unchecked, --allow-unsigned) before anything it
// lists is read; the files it lists come from the cache when it holds
// their checksum. Each package's Repo is its repository's URL.
func LoadRepos(ctx context.Context, specs []string, trusted *pgp.Keyring, cache *remote.Cache) ([]*resolve.Package, error) {
	var all []*resolve.Package
	for _, spec := range specs {
		src, err := remote.Open(spec)
		if err != nil {
			return nil, err
		}
		md, err := readRepomd(ctx, cache, src, trusted)
		if err != nil {
			return nil, fmt.Errorf("repository %s: %w", spec, err)
		}
		mds, err := repodata.ReadPackagesWith(md, func(rec *repodata.Record) ([]byte, error) {
			if !repodata.ValidHref(rec.Href) {
				return nil, fmt.Errorf("repomd.xml: %s: location %q leaves the repository", rec.Type, rec.Href)
			}
			raw, err := cache.Metadata(ctx, src, rec.Href, rec.Checksum, rec.Size)
			if err != nil {
				return nil, fmt.Errorf("%s metadata: %w", rec.Type, err)
			}
			return repodata.DecodeRecord(rec, raw)
		})
		if err != nil {
			return nil, fmt.Errorf("repository %s: %w", spec, err)
		}
		pkgs, err := resolve.FromRepodata(mds, src.URL())
		if err != nil {
			return nil, fmt.Errorf("repository %s: %w", spec, err)
		}
		all = append(all, pkgs...)
	}
	return all, nil
}

// fetchPackages downloads the packages of remote repositories into the
// cache (in parallel: the network, not the CPU, is what they wait on) and
// sets each one's File. Each download is verified against the checksum
// of the signed metadata before the cache holds it.
func fetchPackages(ctx context.Context, cache *remote.Cache, specs []string, pkgs []*resolve.Package) error {
	srcs := map[string]remote.Source{}
	for _, spec := range specs {
		src, err := remote.Open(spec)
		if err != nil {
			return err
		}
		srcs[src.URL()] = src
	}
	errs := make([]error, len(pkgs))
	var g errgroup.Group
	g.SetLimit(max(8, runtime.GOMAXPROCS(0)))
	for i, p := range pkgs {
		src := srcs[p.Repo]
		if src == nil || src.LocalPath(p.Href) != "" {
			continue
		}
		g.Go(func() error {
			if !repodata.ValidHref(p.Href) {
				errs[i] = fmt.Errorf("%s: location %q leaves the repository", p.NEVRA(), p.Href)
				return nil
			}
			path, err := cache.Package(ctx, src, p.Href, p.Checksum, p.Size)
			if err != nil {
				errs[i] = fmt.Errorf("%s: %w", p.NEVRA(), err)
				return nil
			}
			p.File = path
			return nil
		})
	}
	g.Wait()
	if err := ctx.Err(); err != nil {
		return err
	}
	return firstError(errs, "packages")
}

// firstError is one line for many failures: the first, and how many more.
func firstError(errs []error, what string) error {
	var first error
	more := 0
	for _, err := range errs {
		if err != nil {
			if first == nil {
				first = err
			} else {
				more++
			}
		}
	}
	if first != nil && more > 0 {
		return fmt.Errorf("%w (and %d more %s)", first, more, what)
	}
	return first
}

// repoURLs names the repositories as their packages' Repo does (a mirror
// list by its first URL).
func repoURLs(specs []string) []string {
	out := []string{}
	for _, spec := range specs {
		if src, err := remote.Open(spec); err == nil {
			out = append(out, src.URL())
		}
	}
	return out
}

// pkgPath is where a package's file is on this machine.
func pkgPath(p *resolve.Package) string {
	if p.File != "" {
		return p.File
	}
	return filepath.Join(p.Repo, filepath.FromSlash(p.Href))
}

// origin is the URL a remote package comes from ("" for a directory's).
func origin(p *resolve.Package) string {
	if p.File == "" {
		return ""
	}
	return p.Repo + "/" + p.Href
}
