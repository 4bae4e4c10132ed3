package advisory

import (
	"encoding/json"
	"fmt"

	"github.com/keel-linux/keel/pkg/csaf"
	"github.com/keel-linux/keel/pkg/openvex"
	"github.com/keel-linux/keel/pkg/osv"
	"github.com/keel-linux/keel/pkg/oval"
)

// Formats Export writes, with the file name a release uses for each.
var Formats = map[string]string{"osv": "osv.json", "oval": "oval.xml", "csaf": "csaf-vex.json", "openvex": "openvex.json"}

// Export renders records in one of Formats: OSV (a JSON array of the
// records), OVAL 5.11 definitions, a CSAF 2.0 VEX document or OpenVEX.
func Export(advs []*Advisory, format string, o ExportOptions, ov OVALExport) ([]byte, error) {
	switch format {
	case "osv":
		vs := make([]*osv.Vulnerability, 0, len(advs))
		for _, a := range advs {
			v, err := a.Encode()
			if err != nil {
				return nil, err
			}
			vs = append(vs, v)
		}
		out, err := json.MarshalIndent(vs, "", "  ")
		return append(out, '\n'), err
	case "oval":
		d, err := ToOVAL(advs, ov)
		if err != nil {
			return nil, err
		}
		return oval.Marshal(d)
	case "csaf":
		return csaf.Marshal(ToCSAF(advs, o))
	case "openvex":
		return openvex.Marshal(ToOpenVEX(advs, o))
	}
	return nil, fmt.Errorf("export format %q: expected osv, oval, csaf or openvex", format)
}
