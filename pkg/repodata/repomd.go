package repodata

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"strconv"
)

// Record is one <data> entry of repomd.xml.
type Record struct {
	Type         string
	Href         string
	Checksum     string // sha256 of the file as stored
	OpenChecksum string // sha256 of the uncompressed content
	Size         int64
	OpenSize     int64
	Timestamp    int64
}

// Repomd is repomd.xml: the index that names every metadata file by checksum.
type Repomd struct {
	Revision string
	Records  []Record
}

// Record returns the record of a type ("primary", ...), or nil.
func (r *Repomd) Record(typ string) *Record {
	for i := range r.Records {
		if r.Records[i].Type == typ {
			return &r.Records[i]
		}
	}
	return nil
}

// Marshal renders repomd.xml as createrepo_c lays it out.
func (r *Repomd) Marshal() []byte {
	var b xb
	b.WriteString("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n")
	b.WriteString("<repomd xmlns=\"" + NSRepo + "\" xmlns:rpm=\"" + NSRpm + "\">\n")
	b.elem("  ", "revision", r.Revision)
	for _, d := range r.Records {
		b.WriteString("  <data")
		b.attr("type", d.Type)
		b.WriteString(">\n")
		b.WriteString("    <checksum type=\"sha256\">" + d.Checksum + "</checksum>\n")
		if d.OpenChecksum != "" {
			b.WriteString("    <open-checksum type=\"sha256\">" + d.OpenChecksum + "</open-checksum>\n")
		}
		b.WriteString("    <location")
		b.attr("href", d.Href)
		b.WriteString("/>\n")
		b.elem("    ", "timestamp", strconv.FormatInt(d.Timestamp, 10))
		b.elem("    ", "size", strconv.FormatInt(d.Size, 10))
		if d.OpenChecksum != "" {
			b.elem("    ", "open-size", strconv.FormatInt(d.OpenSize, 10))
		}
		b.WriteString("  </data>\n")
	}
	b.WriteString("</repomd>\n")
	return b.Bytes()
}

type xmlRepomd struct {
	XMLName  xml.Name `xml:"repomd"`
	Revision string   `xml:"revision"`
	Data     []struct {
		Type     string `xml:"type,attr"`
		Checksum struct {
			Type  string `xml:"type,attr"`
			Value string `xml:",chardata"`
		} `xml:"checksum"`
		OpenChecksum struct {
			Type  string `xml:"type,attr"`
			Value string `xml:",chardata"`
		} `xml:"open-checksum"`
		Location struct {
			Href string `xml:"href,attr"`
		} `xml:"location"`
		Timestamp int64 `xml:"timestamp"`
		Size      int64 `xml:"size"`
		OpenSize  int64 `xml:"open-size"`
	} `xml:"data"`
}

// ParseRepomd parses repomd.xml. Only sha256 checksums are accepted: Keel
// never writes weaker ones and refuses to trust them.
func ParseRepomd(data []byte) (*Repomd, error) {
	var x xmlRepomd
	if err := xml.NewDecoder(bytes.NewReader(data)).Decode(&x); err != nil {
		return nil, fmt.Errorf("repomd.xml: %w", err)
	}
	r := &Repomd{Revision: x.Revision}
	for i, d := range x.Data {
		if d.Type == "" || d.Location.Href == "" {
			return nil, fmt.Errorf("repomd.xml: data entry %d: missing type or location", i+1)
		}
		if d.Checksum.Type != "sha256" || len(d.Checksum.Value) != 64 {
			return nil, fmt.Errorf("repomd.xml: %s: checksum type %q, want sha256", d.Type, d.Checksum.Type)
		}
		r.Records = append(r.Records, Record{
			Type: d.Type, Href: d.Location.Href, Checksum: d.Checksum.Value, OpenChecksum: d.OpenChecksum.Value,
			Size: d.Size, OpenSize: d.OpenSize, Timestamp: d.Timestamp,
		})
	}
	return r, nil
}
