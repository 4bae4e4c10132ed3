package advisory

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/keel-linux/keel/pkg/csaf"
	"github.com/keel-linux/keel/pkg/nvd"
	"github.com/keel-linux/keel/pkg/osv"
	"github.com/keel-linux/keel/pkg/oval"
)

// ImportOptions configure SyncInputs.
type ImportOptions struct {
	Kind   string   // oval, osv, nvd, csaf
	Inputs []string // files or http(s) URLs
	// Source names the store subdirectory; default per kind
	// (azurelinux-oval, osv, nvd, csaf).
	Source string
	// OVAL naming (default Azure Linux 3.0).
	OVAL OVALImport
	// NVDAPI, when set for kind nvd, polls the API from the last window end
	// (or NVDSince) to Now instead of reading Inputs.
	NVDAPI   string
	NVDSince time.Time
	Now      time.Time
	Client   *http.Client
}

// SyncInputs imports feeds into the store: OVAL, OSV and CSAF inputs are
// complete snapshots of their source (absent records are withdrawn); NVD
// pages only enrich records already in the store, window by window.
func (s Store) SyncInputs(ctx context.Context, o ImportOptions) (*SyncReport, error) {
	if o.Now.IsZero() {
		o.Now = time.Now().UTC()
	}
	if o.Client == nil {
		o.Client = &http.Client{Timeout: 2 * time.Minute}
	}
	if o.Source == "" {
		o.Source = map[string]string{"oval": "azurelinux-oval", "osv": "osv", "nvd": "nvd", "csaf": "csaf"}[o.Kind]
	}
	if o.OVAL.IDPrefix == "" {
		o.OVAL = OVALImport{IDPrefix: "AZL", Ecosystem: "Azure Linux:3.0"}
	}
	if o.Kind == "nvd" {
		return s.syncNVD(ctx, o)
	}
	var all []*Advisory
	var skips []Skip
	for _, in := range o.Inputs {
		data, err := fetch(ctx, o.Client, in)
		if err != nil {
			return nil, err
		}
		var as []*Advisory
		var sk []Skip
		switch o.Kind {
		case "oval":
			d, err := oval.Parse(in, bytes.NewReader(data))
			if err != nil {
				return nil, err
			}
			as, sk = FromOVAL(d, o.OVAL)
		case "osv":
			vs, err := osv.ReadAll(in, bytes.NewReader(data))
			if err != nil {
				return nil, err
			}
			as, sk = FromOSV(vs)
		case "csaf":
			d, err := csaf.Parse(in, data)
			if err != nil {
				return nil, err
			}
			as, sk = FromCSAF(d, Ecosystem)
		default:
			return nil, fmt.Errorf("unknown feed kind %q (want oval, osv, nvd or csaf)", o.Kind)
		}
		all = append(all, as...)
		skips = append(skips, sk...)
	}
	return s.Sync(all, skips, SyncOptions{Source: o.Source, Full: true, Now: o.Now, Inputs: o.Inputs})
}

func (s Store) syncNVD(ctx context.Context, o ImportOptions) (*SyncReport, error) {
	var cves []nvd.CVE
	windowEnd := time.Time{}
	inputs := o.Inputs
	if o.NVDAPI != "" {
		st, err := s.ReadState(o.Source)
		if err != nil {
			return nil, err
		}
		start := st.WindowEnd
		if start.IsZero() {
			start = o.NVDSince
		}
		if start.IsZero() {
			return nil, fmt.Errorf("nvd: first poll needs a start (--since); later polls continue from the stored window end")
		}
		for ws := start; ws.Before(o.Now); ws = ws.Add(nvd.MaxWindow) {
			we := ws.Add(nvd.MaxWindow)
			if we.After(o.Now) {
				we = o.Now
			}
			for idx := 0; ; {
				u, err := nvd.WindowURL(o.NVDAPI, ws, we, idx)
				if err != nil {
					return nil, err
				}
				data, err := fetch(ctx, o.Client, u)
				if err != nil {
					return nil, err
				}
				p, err := nvd.Parse(u, data)
				if err != nil {
					return nil, err
				}
				for _, v := range p.Vulnerabilities {
					cves = append(cves, v.CVE)
				}
				idx += len(p.Vulnerabilities)
				if len(p.Vulnerabilities) == 0 || idx >= p.TotalResults {
					break
				}
			}
			windowEnd = we
		}
		inputs = []string{o.NVDAPI}
	} else {
		for _, in := range o.Inputs {
			data, err := fetch(ctx, o.Client, in)
			if err != nil {
				return nil, err
			}
			p, err := nvd.Parse(in, data)
			if err != nil {
				return nil, err
			}
			for _, v := range p.Vulnerabilities {
				cves = append(cves, v.CVE)
			}
		}
	}
	all, err := s.Load()
	if err != nil {
		return nil, err
	}
	rep := &SyncReport{Source: o.Source}
	changed := Enrich(all.Advisories, cves, o.Now)
	for _, a := range changed {
		if err := s.Write(a); err != nil {
			return nil, err
		}
		rep.Updated = append(rep.Updated, a.OSV.ID)
	}
	rep.Unchanged = len(all.Advisories) - len(changed)
	matched := map[string]bool{}
	for _, a := range all.Advisories {
		matched[a.Keel.CVE] = true
	}
	for _, c := range cves {
		if !matched[c.ID] {
			rep.Skipped = append(rep.Skipped, Skip{Ref: c.ID, Reason: "no advisory in the store names this CVE"})
		}
	}
	st, err := s.ReadState(o.Source)
	if err != nil {
		return nil, err
	}
	st.Source, st.LastSync, st.Inputs, st.RecordCount = o.Source, o.Now, inputs, len(cves)
	if !windowEnd.IsZero() {
		st.WindowEnd = windowEnd
	}
	return rep, s.writeState(st)
}

// fetch reads a file or an http(s) URL (bounded to 1 GiB).
func fetch(ctx context.Context, c *http.Client, in string) ([]byte, error) {
	if !strings.HasPrefix(in, "http://") && !strings.HasPrefix(in, "https://") {
		return os.ReadFile(in)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, in, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetching %s: %w", in, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetching %s: %s", in, resp.Status)
	}
	return io.ReadAll(io.LimitReader(resp.Body, 1<<30))
}
