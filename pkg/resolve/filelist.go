package resolve

import (
	"encoding/xml"
)

type xmlFilelist struct {
	Files []string `xml:"file"`
}

// filelist reads the paths of one filelists.xml <package> fragment.
func filelist(frag []byte) ([]string, error) {
	if len(frag) == 0 {
		return nil, nil
	}
	var x xmlFilelist
	if err := xml.Unmarshal(frag, &x); err != nil {
		return nil, err
	}
	return x.Files, nil
}
