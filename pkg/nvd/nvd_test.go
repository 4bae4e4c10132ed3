package nvd

import (
	"strings"
	"testing"
	"time"
)

func TestParseAndWindows(t *testing.T) {
	_, err := Parse("p", []byte(`{"format":"NVD_CPE","version":"2.0"}`))
	if err == nil || !strings.Contains(err.Error(), "NVD_CVE") {
		t.Fatal(err)
	}
	p, err := Parse("p", []byte(`{"format":"NVD_CVE","version":"2.0","totalResults":1,"vulnerabilities":[{"cve":{"id":"CVE-2024-1","metrics":{"cvssMetricV2":[{"type":"Primary","cvssData":{"version":"2.0","vectorString":"AV:N/AC:L/Au:N/C:P/I:P/A:P","baseScore":7.5},"baseSeverity":"HIGH"}],"cvssMetricV31":[{"type":"Secondary","cvssData":{"version":"3.1","vectorString":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H","baseScore":9.8,"baseSeverity":"CRITICAL"}}]}}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if c := p.Vulnerabilities[0].CVE.BestCVSS(); c.Version != "3.1" || c.BaseScore != 9.8 {
		t.Fatalf("%+v", c)
	}
	start := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	u, err := WindowURL("https://services.nvd.nist.gov/rest/json/cves/2.0", start, start.Add(24*time.Hour), 2000)
	if err != nil || !strings.Contains(u, "lastModStartDate=2024-01-01T00%3A00%3A00.000Z") || !strings.Contains(u, "startIndex=2000") {
		t.Fatalf("%s %v", u, err)
	}
	if _, err := Parse("p", []byte(`{"format":"NVD_CVE","version":"2.0","vulnerabilities":[{"cve":{"id":"GHSA-1"}}]}`)); err == nil {
		t.Fatal("non-CVE id accepted")
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"format":"NVD_CVE","version":"2.0","vulnerabilities":[{"cve":{"id":"CVE-2024-1"}}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := Parse("f", b)
		if err != nil {
			return
		}
		for _, v := range p.Vulnerabilities {
			v.CVE.BestCVSS()
			v.CVE.CWEs()
		}
	})
}
