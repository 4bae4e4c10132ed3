// Package nvd reads pages of the NVD CVE API 2.0
// (https://nvd.nist.gov/developers/vulnerabilities) and builds the
// lastModified-window query URLs the API is polled with.
package nvd

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Page is one response page.
type Page struct {
	ResultsPerPage  int             `json:"resultsPerPage"`
	StartIndex      int             `json:"startIndex"`
	TotalResults    int             `json:"totalResults"`
	Format          string          `json:"format"`
	Version         string          `json:"version"`
	Timestamp       string          `json:"timestamp"`
	Vulnerabilities []Vulnerability `json:"vulnerabilities"`
}

// Vulnerability wraps one CVE item.
type Vulnerability struct {
	CVE CVE `json:"cve"`
}

// CVE is the part of an item Keel uses.
type CVE struct {
	ID                    string       `json:"id"`
	SourceIdentifier      string       `json:"sourceIdentifier"`
	Published             string       `json:"published"`
	LastModified          string       `json:"lastModified"`
	VulnStatus            string       `json:"vulnStatus"`
	CISAExploitAdd        string       `json:"cisaExploitAdd,omitempty"`
	CISAActionDue         string       `json:"cisaActionDue,omitempty"`
	CISARequiredAction    string       `json:"cisaRequiredAction,omitempty"`
	CISAVulnerabilityName string       `json:"cisaVulnerabilityName,omitempty"`
	Descriptions          []LangString `json:"descriptions"`
	Metrics               Metrics      `json:"metrics"`
	Weaknesses            []Weakness   `json:"weaknesses"`
	References            []Reference  `json:"references"`
}

// LangString is a localized text.
type LangString struct {
	Lang  string `json:"lang"`
	Value string `json:"value"`
}

// Metrics holds the CVSS metrics by version.
type Metrics struct {
	V40 []Metric `json:"cvssMetricV40,omitempty"`
	V31 []Metric `json:"cvssMetricV31,omitempty"`
	V30 []Metric `json:"cvssMetricV30,omitempty"`
	V2  []Metric `json:"cvssMetricV2,omitempty"`
}

// Metric is one source's CVSS assessment.
type Metric struct {
	Source       string   `json:"source"`
	Type         string   `json:"type"` // Primary or Secondary
	CVSSData     CVSSData `json:"cvssData"`
	BaseSeverity string   `json:"baseSeverity,omitempty"` // v2 keeps it here
}

// CVSSData is the vector and score.
type CVSSData struct {
	Version      string  `json:"version"`
	VectorString string  `json:"vectorString"`
	BaseScore    float64 `json:"baseScore"`
	BaseSeverity string  `json:"baseSeverity,omitempty"`
}

// Weakness lists CWE ids.
type Weakness struct {
	Source      string       `json:"source"`
	Type        string       `json:"type"`
	Description []LangString `json:"description"`
}

// Reference is a link with tags.
type Reference struct {
	URL    string   `json:"url"`
	Source string   `json:"source"`
	Tags   []string `json:"tags,omitempty"`
}

// Parse reads one API page and checks it is a CVE 2.0 response.
func Parse(name string, data []byte) (*Page, error) {
	var p Page
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("%s: not an NVD CVE API 2.0 page: %w", name, err)
	}
	if p.Format != "NVD_CVE" || !strings.HasPrefix(p.Version, "2.") {
		return nil, fmt.Errorf("%s: format %q version %q, expected NVD_CVE 2.x", name, p.Format, p.Version)
	}
	for i, v := range p.Vulnerabilities {
		if !strings.HasPrefix(v.CVE.ID, "CVE-") {
			return nil, fmt.Errorf("%s: vulnerabilities[%d]: id %q is not a CVE id", name, i, v.CVE.ID)
		}
	}
	return &p, nil
}

// BestCVSS picks the primary v3.1, then v4.0, v3.0, v2 metric.
func (c *CVE) BestCVSS() *CVSSData {
	for _, ms := range [][]Metric{c.Metrics.V31, c.Metrics.V40, c.Metrics.V30, c.Metrics.V2} {
		var pick *Metric
		for i := range ms {
			if pick == nil || ms[i].Type == "Primary" && pick.Type != "Primary" {
				pick = &ms[i]
			}
		}
		if pick != nil {
			d := pick.CVSSData
			if d.BaseSeverity == "" {
				d.BaseSeverity = pick.BaseSeverity
			}
			return &d
		}
	}
	return nil
}

// CWEs lists the CWE ids (NVD-CWE-Other/noinfo left out).
func (c *CVE) CWEs() []string {
	var out []string
	seen := map[string]bool{}
	for _, w := range c.Weaknesses {
		for _, d := range w.Description {
			if strings.HasPrefix(d.Value, "CWE-") && !seen[d.Value] {
				seen[d.Value] = true
				out = append(out, d.Value)
			}
		}
	}
	return out
}

// KEV says whether CISA lists the CVE as known exploited.
func (c *CVE) KEV() bool { return c.CISAExploitAdd != "" }

// Description is the English description.
func (c *CVE) Description() string {
	for _, d := range c.Descriptions {
		if d.Lang == "en" {
			return d.Value
		}
	}
	return ""
}

// MaxWindow is the longest lastModified range the API accepts.
const MaxWindow = 120 * 24 * time.Hour

// WindowURL builds the query for one page of a lastModified window.
func WindowURL(base string, start, end time.Time, startIndex int) (string, error) {
	if end.Sub(start) > MaxWindow {
		return "", fmt.Errorf("window %s..%s is longer than the API's 120 days", start, end)
	}
	u, err := url.Parse(base)
	if err != nil {
		return "", err
	}
	q := u.Query()
	q.Set("lastModStartDate", start.UTC().Format("2006-01-02T15:04:05.000Z"))
	q.Set("lastModEndDate", end.UTC().Format("2006-01-02T15:04:05.000Z"))
	q.Set("startIndex", strconv.Itoa(startIndex))
	u.RawQuery = q.Encode()
	return u.String(), nil
}
