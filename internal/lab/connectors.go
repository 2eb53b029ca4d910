package lab

import (
	"fmt"
	"strings"
	"time"

	"github.com/mailflowhq/mailflow/internal/admin"
	"github.com/mailflowhq/mailflow/internal/certs"
)

// adminQueued is a row of the admin API's queue listing.
type adminQueued = admin.QueuedMessage

// connectorView is a connector as the admin API lists it, with the line
// the evidence shows for it.
type connectorView struct {
	info *admin.ConnectorInfo
	line string
}

func (v connectorView) thumbprint() string {
	if v.info == nil || v.info.Certificate == nil {
		return ""
	}
	return v.info.Certificate.Thumbprint
}

func (v connectorView) cert() string {
	if v.info == nil || v.info.Certificate == nil {
		return "no certificate (STARTTLS not offered)"
	}
	return infoLine(*v.info.Certificate)
}

// describeReceive fetches a receive connector through the admin API.
func describeReceive(in *instance, name string) (connectorView, error) {
	return describeConnector(in, "receive", name, receiveLine)
}

// describeSend fetches a send connector through the admin API.
func describeSend(in *instance, name string) (connectorView, error) {
	return describeConnector(in, "send", name, sendLine)
}

// describeConnector fetches the kind connector named name through the
// admin API; line renders it for the evidence.
func describeConnector(in *instance, kind, name string, line func(*admin.ConnectorInfo) string) (connectorView, error) {
	list, err := in.Admin.Connectors()
	if err != nil {
		return connectorView{}, fmt.Errorf("list connectors on %s: %w", in.Role, err)
	}
	c := connector(list, kind, name)
	if c == nil {
		return connectorView{}, fmt.Errorf("%s has no %s connector %q", in.Role, kind, name)
	}
	return connectorView{info: c, line: fmt.Sprintf("[%s connectors] %s", in.Role, line(c))}, nil
}

// receiveLine is one line per receive connector, as `connector list` shows
// the essentials.
func receiveLine(c *admin.ConnectorInfo) string {
	pin := c.Pinned
	if pin == "" {
		pin = "(null)"
	}
	presents := "nothing (STARTTLS not offered)"
	if c.Certificate != nil {
		presents = infoLine(*c.Certificate)
	}
	line := fmt.Sprintf("receive %s: ranges %s, Fqdn %s, TlsCertificateName %s → presents %s",
		c.ID, strings.Join(c.Ranges, ","), c.FQDN, pin, presents)
	if c.Secure {
		line += ", DomainSecureEnabled"
	}
	if c.RequireTLS {
		line += ", RequireTLS"
	}
	return line
}

// sendLine is the one-line form of a send connector.
func sendLine(c *admin.ConnectorInfo) string {
	pin := c.Pinned
	if pin == "" {
		pin = "(null)"
	}
	line := fmt.Sprintf("send %s: address spaces %s, smart hosts %s, RequireTLS %v, TlsAuthLevel %s, TlsDomain %s, TlsCertificateName %s",
		c.Name, strings.Join(c.Spaces, ","), strings.Join(c.SmartHosts, ","), c.RequireTLS, c.AuthLevel, c.TLSDomain, pin)
	if c.DANE != "" && c.DANE != "off" {
		line += ", DANE " + c.DANE
	}
	return line
}

// infoLine describes a certificate summary in one line.
func infoLine(i certs.Info) string {
	kind := "CA-issued"
	if i.SelfSigned {
		kind = "self-signed"
	}
	return fmt.Sprintf("%s (%s, thumbprint %s, SANs %s)", i.Subject, kind, i.Thumbprint, strings.Join(i.SANs, ";"))
}

// describe lists where the world's servers listen.
func (w *world) describe() []string {
	var out []string
	for _, in := range []*instance{w.Onprem, w.Tenant} {
		line := fmt.Sprintf("[%s] SMTP %s", in.Role, in.SMTP)
		if in.Relay != "" {
			line += ", relay " + in.Relay
		}
		line += fmt.Sprintf(", admin API %s, configuration %s", in.Admin.Base, in.Config)
		out = append(out, line)
	}
	return out
}

// notBefore formats a certificate's start for evidence.
func notBefore(t time.Time) string { return t.UTC().Format(time.RFC3339) }
