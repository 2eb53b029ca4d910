package web

import (
	"context"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/mailflowhq/mailflow/internal/diag/explain"
	"github.com/mailflowhq/mailflow/internal/diag/probe"
	"github.com/mailflowhq/mailflow/internal/tlscheck"
)

type probeForm struct {
	Host, Expect, Policy, Source string
}

type diagData struct {
	Probe      probeForm
	Policies   []string
	Report     *probe.Report
	ReportText string
	Explain    string
	ExplainOut string
}

func newDiagData() diagData {
	return diagData{Probe: probeForm{Policy: "DomainValidation"},
		Policies: []string{"EncryptionOnly", "CertificateValidation", "DomainValidation"}}
}

func (w *Web) diagnosticsPage(rw http.ResponseWriter, r *http.Request, s *session) {
	w.render(rw, r, s, "diagnostics", "Diagnostics", newDiagData(), "", "")
}

// probePost runs the probe exactly as mailflow probe does (same code, the
// server's trust roots, and its certificates so the fix names the one to
// pin) and shows the same text report.
func (w *Web) probePost(rw http.ResponseWriter, r *http.Request, s *session) {
	d := newDiagData()
	d.Probe = probeForm{Host: strings.TrimSpace(r.PostFormValue("host")), Expect: strings.TrimSpace(r.PostFormValue("expect")),
		Policy: r.PostFormValue("policy"), Source: strings.TrimSpace(r.PostFormValue("source"))}
	level, err := tlscheck.ParseLevel(d.Probe.Policy)
	switch {
	case d.Probe.Host == "":
		err = errText("host: give HOST[:PORT] to probe, e.g. mail.contoso.com or 127.0.0.1:2525")
	case err != nil:
		// keep err
	case d.Probe.Source != "" && net.ParseIP(d.Probe.Source) == nil:
		err = errText("source: give a local IP address to connect from, not a name")
	}
	if err != nil {
		w.render(rw, r, s, "diagnostics", "Diagnostics", d, "", err.Error())
		return
	}
	rt := w.n.Runtime()
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Minute)
	defer cancel()
	rep := probe.Run(ctx, probe.Options{Target: d.Probe.Host, Expect: d.Probe.Expect, Level: level, Source: d.Probe.Source,
		Roots: rt.Roots, Certificates: rt.Store})
	var b strings.Builder
	rep.WriteText(&b)
	d.Report, d.ReportText = rep, b.String()
	w.record(r, s, AuditEntry{Action: "diagnostics.probe", Target: d.Probe.Host, After: rep.Verdict.Result})
	w.render(rw, r, s, "diagnostics", "Diagnostics", d, "", "")
}

// explainPost explains a pasted error string as mailflow explain does.
func (w *Web) explainPost(rw http.ResponseWriter, r *http.Request, s *session) {
	d := newDiagData()
	d.Explain = r.PostFormValue("input")
	if strings.TrimSpace(d.Explain) == "" {
		w.render(rw, r, s, "diagnostics", "Diagnostics", d, "", "paste an error string: a queue last error, an NDR line or a message trace reason")
		return
	}
	var b strings.Builder
	explain.Text(d.Explain).WriteText(&b)
	d.ExplainOut = b.String()
	w.render(rw, r, s, "diagnostics", "Diagnostics", d, "", "")
}

type errText string

func (e errText) Error() string { return string(e) }
