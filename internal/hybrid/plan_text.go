package hybrid

import (
	"fmt"
	"io"
	"strings"

	"github.com/mailflowhq/mailflow/internal/certs"
)

// WriteText writes the plan for people: the certificate and name, what the
// version will present, then both sides' mailflow connectors and both
// shells' commands.
func (p *Plan) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "Hybrid plan (%s)\n", versionLabel(p.Version))
	fmt.Fprintf(&b, "  Certificate    %s, issuer %s, thumbprint %s, valid until %s\n", p.Certificate.Subject, p.Certificate.Issuer,
		p.Certificate.Thumbprint, p.Certificate.NotAfter.Format("2006-01-02"))
	fmt.Fprintf(&b, "                 names %s\n", strings.Join(p.Certificate.SANs, ", "))
	fmt.Fprintf(&b, "  FQDN           %s (on-premises Fqdn; the tenant's TlsDomain and TlsSenderCertificateName)\n", p.FQDN)
	fmt.Fprintf(&b, "  Tenant ranges  %s (%s, %s)\n", strings.Join(p.Ranges.Ranges, ", "), p.Ranges.Source, orDefault(p.Ranges.Date, "undated"))
	fmt.Fprintf(&b, "  Receives with  %s\n", predicted(p.Presents.Receive, p.Presents.ReceiveNote))
	fmt.Fprintf(&b, "  Sends with     %s\n", predicted(p.Presents.Send, p.Presents.SendNote))
	for _, n := range p.Notes {
		fmt.Fprintf(&b, "  Note           %s\n", n)
	}
	for _, s := range []struct {
		title string
		cs    Connectors
	}{{"On-premises mailflow connectors (add to onprem.yaml)", p.OnPrem}, {"Tenant mailflow connectors (add to tenant.yaml)", p.Tenant}} {
		y, err := s.cs.YAML("")
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, "\n# %s\n%s", s.title, y)
	}
	b.WriteString("\n" + Script(ShellOnPrem+" (on-premises)", p.Shell))
	b.WriteString("\n" + Script(ShellOnline, p.Online))
	_, err := io.WriteString(w, b.String())
	return err
}

func versionLabel(v string) string {
	switch v {
	case "mailflow":
		return "mailflow, as Exchange 2013 and later"
	case "se":
		return "Exchange Server SE"
	}
	return "Exchange Server " + v
}

// predicted describes a predicted certificate with its note.
func predicted(c *certs.Info, note string) string {
	out := "no certificate"
	if c != nil {
		out = fmt.Sprintf("%s (thumbprint %s)", c.Subject, c.Thumbprint)
	}
	if note != "" {
		out += " — " + note
	}
	return out
}
