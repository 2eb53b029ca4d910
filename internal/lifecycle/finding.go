package lifecycle

import (
	"errors"
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
	CheckDANE     = "dane"      // published TLSA records still authenticate it
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

// ErrRefused is what every refusal by the renewal guard matches with
// errors.Is.
var ErrRefused = errors.New("refused by the renewal guard")

// RefusedError is the renewal guard's refusal of a certificate: nothing
// was changed. Findings holds every finding (the errors that refused it
// and the warnings), each with its fix, so an API can return them as data
// and a form can list them.
type RefusedError struct {
	Thumbprint string   `json:"thumbprint"`
	Subject    string   `json:"subject"`
	Issuer     string   `json:"issuer"`
	Findings   Findings `json:"findings"`
}

func (e *RefusedError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "certificate %s (%s, issued by %s) %v: it would break mail flow, nothing was changed", e.Thumbprint, e.Subject, e.Issuer, ErrRefused)
	for _, f := range e.Findings {
		if f.Severity == SevError {
			b.WriteString("; " + f.String())
		}
	}
	b.WriteString(" (force imports it anyway, logging the problems as warnings)")
	return b.String()
}

// Is makes errors.Is(err, ErrRefused) true.
func (e *RefusedError) Is(target error) bool { return target == ErrRefused }

// Errors are the findings that refuse the certificate.
func (e *RefusedError) Errors() Findings {
	var out Findings
	for _, f := range e.Findings {
		if f.Severity == SevError {
			out = append(out, f)
		}
	}
	return out
}
