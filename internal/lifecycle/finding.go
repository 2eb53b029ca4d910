package lifecycle

import (
	"fmt"
	"io"
	"strings"
)

// Severity of a finding.
const (
	SevError   = "error"   // the certificate would break mail flow: refused
	SevWarning = "warning" // works now, but needs attention
)

// Check names of findings.
const (
	CheckName     = "name"      // connector FQDN in CN or SAN
	CheckPin      = "pin"       // tls_certificate_name still selects it
	CheckChain    = "chain"     // complete to a trusted root
	CheckKeyUsage = "key_usage" // usable as a TLS server certificate
	CheckExpiry   = "expiry"    // validity dates
	CheckPresent  = "present"   // a connector has a certificate at all
)

// Finding is one problem with a certificate for a connector, with the fix.
type Finding struct {
	Severity   string `json:"severity"`
	Check      string `json:"check"`
	Connector  string `json:"connector,omitempty"`
	Thumbprint string `json:"thumbprint,omitempty"`
	Problem    string `json:"problem"`
	Fix        string `json:"fix"`
}

func (f Finding) String() string {
	where := ""
	if f.Connector != "" {
		where = "connector " + f.Connector + ": "
	}
	return fmt.Sprintf("%s: %s%s Fix: %s", strings.ToUpper(f.Severity), where, f.Problem, f.Fix)
}

// Findings is a list of findings.
type Findings []Finding

// Refused reports whether any finding is an error.
func (fs Findings) Refused() bool {
	for _, f := range fs {
		if f.Severity == SevError {
			return true
		}
	}
	return false
}

// Print writes one finding per paragraph.
func (fs Findings) Print(w io.Writer) {
	for _, f := range fs {
		fmt.Fprintln(w, f.String())
	}
}
