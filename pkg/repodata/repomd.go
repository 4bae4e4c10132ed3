package repodata

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
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

// ParseRepomd parses repomd.xml. Only sha256 checksums are accepted: Keel
// never writes weaker ones and refuses to trust them. It walks the tokens
// instead of unmarshalling into structs: reflection's first use was a
// tenth of a one-package update.
func ParseRepomd(data []byte) (*Repomd, error) {
	d := xml.NewDecoder(bytes.NewReader(data))
	r := &Repomd{}
	var (
		depth int
		cur   *Record
		field string // element inside <data> (or "revision") whose text is collected
		text  []byte
		ctype string // type attribute of the current checksum
	)
	attr := func(e xml.StartElement, name string) string {
		for _, a := range e.Attr {
			if a.Name.Local == name {
				return a.Value
			}
		}
		return ""
	}
	for {
		tok, err := d.Token()
		if err != nil {
			if err == io.EOF {
				err = errors.New("no <repomd> element")
			}
			return nil, fmt.Errorf("repomd.xml: %w", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			switch {
			case depth == 1 && t.Name.Local != "repomd":
				return nil, fmt.Errorf("repomd.xml: root element <%s>, want <repomd>", t.Name.Local)
			case depth == 2 && t.Name.Local == "revision":
				field, text = "revision", text[:0]
			case depth == 2 && t.Name.Local == "data":
				cur = &Record{Type: attr(t, "type")}
			case depth == 3 && cur != nil:
				field, text = t.Name.Local, text[:0]
				switch field {
				case "checksum":
					ctype = attr(t, "type")
				case "location":
					cur.Href = attr(t, "href")
				}
			}
		case xml.CharData:
			if field != "" {
				text = append(text, t...)
			}
		case xml.EndElement:
			switch {
			case depth == 1:
				return r, nil // anything after the root element is not read
			case depth == 2 && field == "revision":
				r.Revision = string(text)
			case depth == 2 && cur != nil:
				if err := checkRecord(cur, ctype, len(r.Records)+1); err != nil {
					return nil, err
				}
				r.Records = append(r.Records, *cur)
				cur, ctype = nil, ""
			case depth == 3 && cur != nil:
				if err := setField(cur, field, text); err != nil {
					return nil, fmt.Errorf("repomd.xml: data entry %d: %w", len(r.Records)+1, err)
				}
			}
			if depth <= 3 {
				field = ""
			}
			depth--
		}
	}
}

func setField(r *Record, field string, text []byte) error {
	num := func() (int64, error) {
		s := strings.TrimSpace(string(text))
		if s == "" {
			return 0, nil
		}
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("<%s>: %w", field, err)
		}
		return v, nil
	}
	var err error
	switch field {
	case "checksum":
		r.Checksum = string(text)
	case "open-checksum":
		r.OpenChecksum = string(text)
	case "timestamp":
		r.Timestamp, err = num()
	case "size":
		r.Size, err = num()
	case "open-size":
		r.OpenSize, err = num()
	}
	return err
}

func checkRecord(d *Record, ctype string, n int) error {
	if d.Type == "" || d.Href == "" {
		return fmt.Errorf("repomd.xml: data entry %d: missing type or location", n)
	}
	if ctype != "sha256" || len(d.Checksum) != 64 {
		return fmt.Errorf("repomd.xml: %s: checksum type %q, want sha256", d.Type, ctype)
	}
	return nil
}
