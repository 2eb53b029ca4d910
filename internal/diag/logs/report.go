package logs

import (
	"github.com/mailflowhq/mailflow/internal/certs"

	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// Report is the result of a log analysis.
type Report struct {
	GeneratedAt time.Time `json:"generated_at"`
	Since       time.Time `json:"since,omitzero"`
	Until       time.Time `json:"until,omitzero"`
	Expect      []string  `json:"expect,omitempty"`
	// ExchangeVersion is the version whose rules the fixes follow, when
	// the logs or Options.Version name one ("2010"); empty means Exchange
	// 2013 and later.
	ExchangeVersion string             `json:"exchange_version,omitempty"`
	Files           []File             `json:"files"`
	Records         int64              `json:"records"`
	Connectors      []ConnectorSummary `json:"connectors"`
	Tracking        *TrackingSummary   `json:"tracking,omitempty"`
	Findings        []Finding          `json:"findings"`
	Limits          Limits             `json:"limits,omitzero"`
}

// Limits counts what the memory bounds turned away, so a report never
// claims more than it saw. All zero on ordinary input.
type Limits struct {
	// SessionsConcludedEarly were folded into the counts before their '-'
	// line because more than Options.MaxOpenSessions were open.
	SessionsConcludedEarly int64 `json:"sessions_concluded_early,omitempty"`
	// ConnectorsMerged are records of connectors past the cap, counted
	// under "(other connectors)".
	ConnectorsMerged int64 `json:"connectors_merged,omitempty"`
	// CertificatesUntracked are certificate records past the cap of
	// distinct certificates.
	CertificatesUntracked int64 `json:"certificates_untracked,omitempty"`
	// SendersUntracked are certificate records for remote addresses past
	// the cap, not checked for inconsistent certificates.
	SendersUntracked int64 `json:"senders_untracked,omitempty"`
	// ReasonsMerged are tracking recipients whose reason was past the cap
	// of distinct reasons.
	ReasonsMerged int64 `json:"reasons_merged,omitempty"`
}

// ConnectorSummary is what one connector did in the protocol logs.
type ConnectorSummary struct {
	Connector string `json:"connector"`
	// Direction is "receive" (SmtpReceive log: we answered) or "send"
	// (SmtpSend log: we connected out).
	Direction    string       `json:"direction"`
	Sessions     int64        `json:"sessions"`
	FirstSeen    time.Time    `json:"first_seen,omitzero"`
	LastSeen     time.Time    `json:"last_seen,omitzero"`
	RemoteRanges []RangeCount `json:"remote_ranges,omitempty"`
	// OtherRanges counts sessions from ranges past the per-connector cap.
	OtherRanges int64 `json:"other_ranges,omitempty"`
	// EHLOSessions had an EHLO reply before TLS; StartTLSOffered of them
	// listed STARTTLS.
	EHLOSessions     int64        `json:"ehlo_sessions"`
	StartTLSOffered  int64        `json:"starttls_offered"`
	StartTLSUsed     int64        `json:"starttls_used"`
	TLSNegotiated    int64        `json:"tls_negotiated"`
	TLSFailures      []TLSFailure `json:"tls_failures,omitempty"`
	OtherTLSFailures int64        `json:"other_tls_failures,omitempty"`
	// TLSDomainStatus counts the client-certificate verdicts logged after
	// TLS (Status='…' of TlsDomainCapabilities lines; "chain …" for
	// Exchange 2019's chain validation status).
	TLSDomainStatus map[string]int64 `json:"tls_domain_status,omitempty"`
	// Certificates are those the connector presented ("Sending
	// certificate"): its server certificate on receive, its client
	// certificate on send.
	Certificates []CertificateUse `json:"certificates,omitempty"`
	// PeerCertificates are those the other side presented: client
	// certificates received on receive connectors, the servers'
	// certificates on send connectors.
	PeerCertificates  []CertificateUse `json:"peer_certificates,omitempty"`
	OtherCertificates int64            `json:"other_certificates,omitempty"`
	// AuthSucceeded and AuthFailed count SMTP AUTH exchanges by their final
	// reply (235, or anything else); AuthFailuresFrom lists the addresses
	// that failed, most failures first.
	AuthSucceeded    int64          `json:"auth_succeeded,omitempty"`
	AuthFailed       int64          `json:"auth_failed,omitempty"`
	AuthFailuresFrom []AddressCount `json:"auth_failures_from,omitempty"`
}

// AddressCount is a remote address and how often something happened.
type AddressCount struct {
	Address string `json:"address"`
	Count   int64  `json:"count"`
}

// RangeCount is a remote address range (/24 for IPv4, /64 for IPv6) and
// how many sessions came from it.
type RangeCount struct {
	Range    string `json:"range"`
	Sessions int64  `json:"sessions"`
}

// TLSFailure counts one "TLS negotiation failed with error X".
type TLSFailure struct {
	Error     string    `json:"error"`
	Count     int64     `json:"count"`
	FirstSeen time.Time `json:"first_seen,omitzero"`
	LastSeen  time.Time `json:"last_seen,omitzero"`
}

// CertificateUse is one certificate as one connector used it.
type CertificateUse struct {
	Thumbprint string    `json:"thumbprint"`
	Subject    string    `json:"subject,omitempty"`
	Issuer     string    `json:"issuer,omitempty"`
	Serial     string    `json:"serial,omitempty"`
	SANs       []string  `json:"sans,omitempty"`
	NotBefore  time.Time `json:"not_before,omitzero"`
	NotAfter   time.Time `json:"not_after,omitzero"`
	SelfSigned bool      `json:"self_signed,omitempty"`
	Count      int64     `json:"count"`
	FirstSeen  time.Time `json:"first_seen,omitzero"`
	LastSeen   time.Time `json:"last_seen,omitzero"`
	// ExpiredUses were presentations after NotAfter.
	ExpiredUses int64 `json:"expired_uses,omitempty"`
}

// Finding is one problem the logs show.
type Finding struct {
	// Kind is stable for scripts: certificate-name-mismatch,
	// self-signed-certificate, starttls-not-offered, tls-credentials,
	// certificate-expired, certificate-not-yet-valid, certificate-expiring,
	// inconsistent-certificates, tracking-failed, tracking-deferred,
	// auth-failures.
	Kind       string    `json:"kind"`
	Severity   string    `json:"severity"` // "error" or "warning"
	Connector  string    `json:"connector,omitempty"`
	Thumbprint string    `json:"thumbprint,omitempty"`
	Summary    string    `json:"summary"`
	Detail     string    `json:"detail,omitempty"`
	Fix        []string  `json:"fix,omitempty"`
	Count      int64     `json:"count"`
	FirstSeen  time.Time `json:"first_seen,omitzero"`
	LastSeen   time.Time `json:"last_seen,omitzero"`
}

// Finding severities.
const (
	SeverityError   = "error"
	SeverityWarning = "warning"
)

// Report concludes the analysis (sessions still open are counted as they
// stand) and returns the report. Call it once; ReadLog fails afterwards.
func (a *Analyzer) Report() *Report {
	if !a.done {
		a.proto.finish()
		a.done = true
	}
	now := a.opts.Now().UTC()
	a.now = now
	r := &Report{
		GeneratedAt:     now,
		Since:           a.window.since,
		Until:           a.window.until,
		Expect:          a.opts.Expect,
		ExchangeVersion: string(a.version()),
		Files:           slices.Clone(a.files),
		Limits:          a.proto.limits,
	}
	r.Limits.ReasonsMerged = a.track.reasonsMerged
	for _, f := range a.files {
		r.Records += f.Records
	}
	conns := a.proto.connectorList()
	for _, c := range conns {
		r.Connectors = append(r.Connectors, c.summary())
	}
	r.Tracking = a.track.summary()
	r.Findings = a.findings(conns)
	if r.Connectors == nil {
		r.Connectors = []ConnectorSummary{}
	}
	if r.Findings == nil {
		r.Findings = []Finding{}
	}
	return r
}

// connectorList returns the connectors, receive first, by name; merged
// overflow connectors last.
func (p *protoState) connectorList() []*logConn {
	out := make([]*logConn, 0, len(p.conns)+2)
	for _, c := range p.conns {
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b *logConn) int {
		if a.send != b.send {
			if a.send {
				return 1
			}
			return -1
		}
		return strings.Compare(a.name, b.name)
	})
	for _, c := range p.overflow {
		if c != nil {
			out = append(out, c)
		}
	}
	return out
}

func (c *logConn) direction() string {
	if c.send {
		return "send"
	}
	return "receive"
}

func (c *logConn) summary() ConnectorSummary {
	s := ConnectorSummary{
		Connector:         c.name,
		Direction:         c.direction(),
		Sessions:          c.count,
		FirstSeen:         c.first,
		LastSeen:          c.last,
		OtherRanges:       c.rangesOther,
		EHLOSessions:      c.ehlo,
		StartTLSOffered:   c.offered,
		StartTLSUsed:      c.used,
		TLSNegotiated:     c.tlsOK,
		OtherTLSFailures:  c.failuresOther,
		OtherCertificates: c.certsOther,
	}
	for pfx, n := range c.ranges {
		s.RemoteRanges = append(s.RemoteRanges, RangeCount{Range: pfx.String(), Sessions: n})
	}
	slices.SortFunc(s.RemoteRanges, func(a, b RangeCount) int {
		if c := cmp.Compare(b.Sessions, a.Sessions); c != 0 {
			return c
		}
		return comparePrefixText(a.Range, b.Range)
	})
	for word, f := range c.failures {
		s.TLSFailures = append(s.TLSFailures, TLSFailure{Error: word, Count: f.count, FirstSeen: f.first, LastSeen: f.last})
	}
	slices.SortFunc(s.TLSFailures, func(a, b TLSFailure) int {
		if c := cmp.Compare(b.Count, a.Count); c != 0 {
			return c
		}
		return strings.Compare(a.Error, b.Error)
	})
	if len(c.status) > 0 {
		s.TLSDomainStatus = make(map[string]int64, len(c.status)+1)
		for k, v := range c.status {
			s.TLSDomainStatus[k] = v
		}
		if c.statusOther > 0 {
			s.TLSDomainStatus["(other)"] = c.statusOther
		}
	}
	s.Certificates = certUses(c.sent)
	s.PeerCertificates = certUses(c.peer)
	s.AuthSucceeded, s.AuthFailed = c.authOK, c.authFailed
	for a, n := range c.authFailFrom {
		s.AuthFailuresFrom = append(s.AuthFailuresFrom, AddressCount{Address: a.String(), Count: n})
	}
	slices.SortFunc(s.AuthFailuresFrom, func(a, b AddressCount) int {
		if c := cmp.Compare(b.Count, a.Count); c != 0 {
			return c
		}
		return strings.Compare(a.Address, b.Address)
	})
	return s
}

func comparePrefixText(a, b string) int {
	pa, errA := netip.ParsePrefix(a)
	pb, errB := netip.ParsePrefix(b)
	if errA != nil || errB != nil {
		return strings.Compare(a, b)
	}
	return pa.Addr().Compare(pb.Addr())
}

// certUses lists a connector's certificates, most recently used first.
func certUses(m map[*logCert]*logCertUse) []CertificateUse {
	uses := sortedUses(m)
	out := make([]CertificateUse, 0, len(uses))
	for _, u := range uses {
		ci := u.cert
		out = append(out, CertificateUse{
			Thumbprint:  ci.thumbprint,
			Subject:     ci.subject,
			Issuer:      ci.issuer,
			Serial:      ci.serial,
			SANs:        ci.sans,
			NotBefore:   ci.notBefore,
			NotAfter:    ci.notAfter,
			SelfSigned:  ci.selfSigned,
			Count:       u.count,
			FirstSeen:   u.first,
			LastSeen:    u.last,
			ExpiredUses: u.expired.count,
		})
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// sortedUses orders certificate uses by last use (newest first), then
// thumbprint, for stable output.
func sortedUses(m map[*logCert]*logCertUse) []*logCertUse {
	out := make([]*logCertUse, 0, len(m))
	for _, u := range m {
		out = append(out, u)
	}
	slices.SortFunc(out, func(a, b *logCertUse) int {
		if c := b.last.Compare(a.last); c != 0 {
			return c
		}
		return strings.Compare(a.cert.thumbprint+a.cert.subject, b.cert.thumbprint+b.cert.subject)
	})
	return out
}

// ExitCode is the process exit status for the report: 2 when an input
// could not be read (or there was none), 1 when there are findings, else 0.
func (r *Report) ExitCode() int {
	if len(r.Files) == 0 {
		return 2
	}
	for _, f := range r.Files {
		if f.Error != "" {
			return 2
		}
	}
	if len(r.Findings) > 0 {
		return 1
	}
	return 0
}

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false) // keep <I>…<S>… and -> readable
	if err := enc.Encode(r); err != nil {
		return fmt.Errorf("write log report JSON: %w", err)
	}
	return nil
}

// logTextRanges is how many remote ranges the text report lists per
// connector (JSON lists them all).
const logTextRanges = 10

// WriteText writes the report for a person: inputs, each connector, the
// tracking summary and the findings with their fixes.
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	r.writeInputs(&b)
	for i := range r.Connectors {
		writeConnectorText(&b, &r.Connectors[i])
	}
	if r.Tracking != nil {
		writeTrackingText(&b, r.Tracking)
	}
	writeFindingsText(&b, r.Findings)
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("write log report: %w", err)
	}
	return nil
}

func (r *Report) writeInputs(b *strings.Builder) {
	var malformed, skipped int64
	bad := 0
	for _, f := range r.Files {
		malformed += f.Malformed
		skipped += f.Skipped
		if f.Error != "" {
			bad++
		}
	}
	fmt.Fprintf(b, "Logs analysed: %d file(s), %d record(s), %d malformed line(s) skipped", len(r.Files), r.Records, malformed)
	if skipped > 0 {
		fmt.Fprintf(b, ", %d record(s) outside the time window", skipped)
	}
	b.WriteString("\n")
	if r.ExchangeVersion == string(certs.Exchange2010) {
		b.WriteString("Fixes follow Exchange 2010's rules (its daily RECVyyyymmdd-n.LOG files, a #Version: 14 header, or --exchange-version 2010): no TlsCertificateName, the connector FQDN chooses the certificate.\n")
	} else if r.ExchangeVersion != "" {
		v, _ := certs.ParseVersion(r.ExchangeVersion)
		fmt.Fprintf(b, "Fixes follow the rules of %s.\n", v)
	}
	for _, f := range r.Files {
		if f.Error != "" {
			fmt.Fprintf(b, "  could not read %s: %s\n", f.Path, f.Error)
		}
	}
	if !r.Since.IsZero() || !r.Until.IsZero() {
		fmt.Fprintf(b, "Time window: %s to %s\n", timeOrOpen(r.Since, "the beginning"), timeOrOpen(r.Until, "the end"))
	}
	if len(r.Expect) > 0 {
		fmt.Fprintf(b, "Expected name on presented certificates: %s\n", strings.Join(r.Expect, ", "))
	}
	l := r.Limits
	if l != (Limits{}) {
		b.WriteString("Memory bounds reached (counts below are partial):")
		for _, item := range []struct {
			n    int64
			what string
		}{
			{l.SessionsConcludedEarly, "sessions concluded before their end"},
			{l.ConnectorsMerged, "records of connectors merged into (other connectors)"},
			{l.CertificatesUntracked, "certificate records past the cap of distinct certificates"},
			{l.SendersUntracked, "certificate records of remote addresses past the cap"},
			{l.ReasonsMerged, "tracking recipients with reasons past the cap"},
		} {
			if item.n > 0 {
				fmt.Fprintf(b, " %d %s;", item.n, item.what)
			}
		}
		b.WriteString("\n")
	}
}

func timeOrOpen(t time.Time, open string) string {
	if t.IsZero() {
		return open
	}
	return fmtLogTime(t)
}

// fmtLogTime formats a time for the text report.
func fmtLogTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}

func fmtSpan(first, last time.Time) string {
	switch {
	case first.IsZero():
		return "time not logged"
	case fmtLogTime(first) == fmtLogTime(last):
		return fmtLogTime(first)
	}
	return fmtLogTime(first) + " to " + fmtLogTime(last)
}

func writeConnectorText(b *strings.Builder, c *ConnectorSummary) {
	role := "Receive"
	if c.Direction == "send" {
		role = "Send"
	}
	fmt.Fprintf(b, "\n%s connector %s\n", role, c.Connector)
	fmt.Fprintf(b, "  Sessions: %d (%s)\n", c.Sessions, fmtSpan(c.FirstSeen, c.LastSeen))
	if len(c.RemoteRanges) > 0 || c.OtherRanges > 0 {
		parts := make([]string, 0, logTextRanges+1)
		for i, rc := range c.RemoteRanges {
			if i == logTextRanges {
				parts = append(parts, fmt.Sprintf("%d more", len(c.RemoteRanges)-logTextRanges))
				break
			}
			parts = append(parts, fmt.Sprintf("%s (%d)", rc.Range, rc.Sessions))
		}
		if c.OtherRanges > 0 {
			parts = append(parts, fmt.Sprintf("%d session(s) from further ranges", c.OtherRanges))
		}
		fmt.Fprintf(b, "  Remote ranges: %s\n", strings.Join(parts, ", "))
	}
	offeredBy := "offered"
	if c.Direction == "send" {
		offeredBy = "offered by the remote"
	}
	fmt.Fprintf(b, "  STARTTLS: %s in %d of %d EHLO replies; used in %d session(s); TLS negotiated %d time(s)\n",
		offeredBy, c.StartTLSOffered, c.EHLOSessions, c.StartTLSUsed, c.TLSNegotiated)
	if len(c.TLSFailures) > 0 || c.OtherTLSFailures > 0 {
		parts := make([]string, 0, len(c.TLSFailures)+1)
		for _, f := range c.TLSFailures {
			parts = append(parts, fmt.Sprintf("%s %d (%s)", f.Error, f.Count, fmtSpan(f.FirstSeen, f.LastSeen)))
		}
		if c.OtherTLSFailures > 0 {
			parts = append(parts, fmt.Sprintf("%d of other kinds", c.OtherTLSFailures))
		}
		fmt.Fprintf(b, "  TLS failures: %s\n", strings.Join(parts, "; "))
	}
	if len(c.TLSDomainStatus) > 0 {
		keys := make([]string, 0, len(c.TLSDomainStatus))
		for k := range c.TLSDomainStatus {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		parts := make([]string, 0, len(keys))
		for _, k := range keys {
			parts = append(parts, fmt.Sprintf("%s %d", k, c.TLSDomainStatus[k]))
		}
		fmt.Fprintf(b, "  Client certificate status: %s\n", strings.Join(parts, ", "))
	}
	presented, received := "Certificates presented", "Client certificates received"
	if c.Direction == "send" {
		presented, received = "Client certificates presented", "Server certificates received"
	}
	if c.AuthSucceeded > 0 || c.AuthFailed > 0 {
		fmt.Fprintf(b, "  SMTP AUTH: %d succeeded, %d failed", c.AuthSucceeded, c.AuthFailed)
		if len(c.AuthFailuresFrom) > 0 {
			fmt.Fprintf(b, " (from %s)", authAddressesText(c.AuthFailuresFrom))
		}
		b.WriteString("\n")
	}
	writeCertUsesText(b, presented, c.Certificates)
	writeCertUsesText(b, received, c.PeerCertificates)
	if c.OtherCertificates > 0 {
		fmt.Fprintf(b, "  %d certificate record(s) past the per-connector cap\n", c.OtherCertificates)
	}
}

func writeCertUsesText(b *strings.Builder, title string, uses []CertificateUse) {
	if len(uses) == 0 {
		fmt.Fprintf(b, "  %s: none logged\n", title)
		return
	}
	fmt.Fprintf(b, "  %s:\n", title)
	for _, u := range uses {
		fmt.Fprintf(b, "    %s  %s", nonBlankText(u.Thumbprint, "(thumbprint not logged)"), nonBlankText(u.Subject, "(subject not logged)"))
		if u.SelfSigned {
			b.WriteString("  [self-signed]")
		}
		b.WriteString("\n")
		var attrs []string
		if u.Issuer != "" && !u.SelfSigned {
			attrs = append(attrs, "issuer "+u.Issuer)
		}
		if len(u.SANs) > 0 {
			attrs = append(attrs, "SANs "+strings.Join(u.SANs, ", "))
		}
		if !u.NotAfter.IsZero() {
			attrs = append(attrs, "valid "+fmtLogTime(u.NotBefore)+" to "+fmtLogTime(u.NotAfter))
		}
		if len(attrs) > 0 {
			fmt.Fprintf(b, "      %s\n", strings.Join(attrs, "; "))
		}
		fmt.Fprintf(b, "      %d time(s), %s", u.Count, fmtSpan(u.FirstSeen, u.LastSeen))
		if u.ExpiredUses > 0 {
			fmt.Fprintf(b, "; %d after it expired", u.ExpiredUses)
		}
		b.WriteString("\n")
	}
}

func writeTrackingText(b *strings.Builder, t *TrackingSummary) {
	fmt.Fprintf(b, "\nMessage tracking: %d event(s)", t.Events)
	if len(t.EventCounts) > 0 {
		keys := make([]string, 0, len(t.EventCounts))
		for k := range t.EventCounts {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		parts := make([]string, 0, len(keys))
		for _, k := range keys {
			parts = append(parts, fmt.Sprintf("%s %d", k, t.EventCounts[k]))
		}
		fmt.Fprintf(b, " (%s)", strings.Join(parts, ", "))
	}
	b.WriteString("\n")
	if len(t.Reasons) == 0 {
		b.WriteString("  No deferrals or failures.\n")
		return
	}
	b.WriteString("  Deferrals and failures by reason:\n")
	for _, rs := range t.Reasons {
		fmt.Fprintf(b, "    %s %s: %d recipient(s) in %d event(s), %s\n", rs.Event, rs.Reason, rs.Recipients, rs.Events, fmtSpan(rs.FirstSeen, rs.LastSeen))
		if rs.Title != "" {
			fmt.Fprintf(b, "      %s\n", rs.Title)
		}
		if len(rs.Targets) > 0 {
			fmt.Fprintf(b, "      to %s\n", strings.Join(rs.Targets, ", "))
		}
		if len(rs.ExampleRecipients) > 0 {
			fmt.Fprintf(b, "      e.g. %s\n", strings.Join(rs.ExampleRecipients, ", "))
		}
	}
	if t.OtherReasons > 0 {
		fmt.Fprintf(b, "    %d recipient(s) with further reasons (past the cap)\n", t.OtherReasons)
	}
}

func writeFindingsText(b *strings.Builder, fs []Finding) {
	if len(fs) == 0 {
		b.WriteString("\nFindings: none\n")
		return
	}
	fmt.Fprintf(b, "\nFindings (%d):\n", len(fs))
	for i, f := range fs {
		fmt.Fprintf(b, "\n%d. [%s] %s\n", i+1, f.Severity, f.Summary)
		if f.Detail != "" {
			fmt.Fprintf(b, "   %s\n", f.Detail)
		}
		for _, fix := range f.Fix {
			fmt.Fprintf(b, "   Fix: %s\n", fix)
		}
	}
}

func nonBlankText(s, fallback string) string {
	if strings.TrimSpace(s) == "" {
		return fallback
	}
	return s
}

// authAddressesText lists the first addresses with their counts.
func authAddressesText(list []AddressCount) string {
	parts := make([]string, 0, logTextRanges+1)
	for i, a := range list {
		if i == logTextRanges {
			parts = append(parts, fmt.Sprintf("%d more", len(list)-logTextRanges))
			break
		}
		parts = append(parts, fmt.Sprintf("%s %d", a.Address, a.Count))
	}
	return strings.Join(parts, ", ")
}
