package web

import (
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/mailflowhq/mailflow/internal/certs"
	"github.com/mailflowhq/mailflow/internal/config"
	"github.com/mailflowhq/mailflow/internal/lifecycle"
	"github.com/mailflowhq/mailflow/internal/node"
)

type certRow struct {
	Info certs.Info
	Uses []node.ConnectorUse
	// Bar is the certificate's span on the expiry timeline.
	Bar timelineBar
}

type timelineBar struct {
	X, W   float64 // in the SVG's coordinates
	Y      int
	Health string // ok, warn, bad
	Label  string
}

type certsData struct {
	Refused    *lifecycle.RefusedError // the renewal guard's refusal of the last upload, shown with its fixes
	Rows       []certRow
	Connectors []string // "receive|name" choices for pinning
	Timeline   timeline
}

type timeline struct {
	Width, Height int
	NowX          float64
	Ticks         []timelineTick
}

type timelineTick struct {
	X     float64
	Label string
}

// expiryHealth classes a certificate by days left: expired or not yet
// valid is bad, under 30 days warn.
func expiryHealth(info certs.Info) string {
	switch {
	case info.Status != certs.StatusValid:
		return "bad"
	case info.DaysLeft < 30:
		return "warn"
	}
	return "ok"
}

func (w *Web) certsData() certsData {
	now := w.now()
	uses := w.n.CertificateUses()
	var d certsData
	// The timeline spans from 30 days ago to the last expiry (at least a
	// year ahead), so near expiries are visible next to long-lived ones.
	start := now.AddDate(0, 0, -30)
	end := now.AddDate(1, 0, 0)
	for _, u := range uses {
		if na := u.Cert.Leaf.NotAfter; na.After(end) {
			end = na
		}
	}
	const left, width, rowH = 10.0, 880.0, 26
	x := func(t time.Time) float64 {
		if t.Before(start) {
			t = start
		}
		return left + width*t.Sub(start).Seconds()/end.Sub(start).Seconds()
	}
	sort.SliceStable(uses, func(i, j int) bool { return uses[i].Cert.Leaf.NotAfter.Before(uses[j].Cert.Leaf.NotAfter) })
	for i, u := range uses {
		info := u.Cert.Describe(now)
		x0, x1 := x(u.Cert.Leaf.NotBefore), x(u.Cert.Leaf.NotAfter)
		d.Rows = append(d.Rows, certRow{Info: info, Uses: u.Uses, Bar: timelineBar{X: x0, W: max(x1-x0, 2), Y: 24 + i*rowH,
			Health: expiryHealth(info), Label: fmt.Sprintf("%s — %d days left", info.Subject, info.DaysLeft)}})
	}
	d.Timeline = timeline{Width: 900, Height: 40 + len(uses)*rowH, NowX: x(now)}
	for t := time.Date(start.Year(), start.Month(), 1, 0, 0, 0, 0, time.UTC).AddDate(0, 1, 0); t.Before(end); t = t.AddDate(0, 3, 0) {
		d.Timeline.Ticks = append(d.Timeline.Ticks, timelineTick{X: x(t), Label: t.Format("Jan 2006")})
	}
	rt := w.n.Runtime()
	for _, c := range rt.Cfg.ReceiveConnectors {
		d.Connectors = append(d.Connectors, "receive|"+c.Name)
	}
	for _, c := range rt.Cfg.SendConnectors {
		d.Connectors = append(d.Connectors, "send|"+c.Name)
	}
	return d
}

func (w *Web) certificatesPage(rw http.ResponseWriter, r *http.Request, s *session) {
	w.render(rw, r, s, "certificates", "Certificates", w.certsData(), "", "")
}

// certificatePin sets a connector's tls_certificate_name to the
// certificate, through the same validated live edit as the connector form.
func (w *Web) certificatePin(rw http.ResponseWriter, r *http.Request, s *session) {
	c := w.n.Runtime().Store.FindThumbprint(r.PathValue("thumbprint"))
	if c == nil {
		http.NotFound(rw, r)
		return
	}
	kind, name, ok := strings.Cut(r.PostFormValue("connector"), "|")
	if !ok {
		w.render(rw, r, s, "certificates", "Certificates", w.certsData(), "", "choose a connector to pin the certificate to")
		return
	}
	before, _ := w.describe(kind, name)
	entry := AuditEntry{Action: "certificate.pin", Target: kind + " connector " + name, Before: before}
	if err := w.n.SetConnector(kind, name, map[string]any{"tls_certificate_name": c.Name()}); err != nil {
		entry.Result, entry.Error, entry.After = "refused", err.Error(), c.Name()
		w.record(r, s, entry)
		w.render(rw, r, s, "certificates", "Certificates", w.certsData(), "", err.Error())
		return
	}
	entry.After, _ = w.describe(kind, name)
	w.record(r, s, entry)
	w.back(rw, r, s, "/certificates", fmt.Sprintf("%s is now pinned to %s connector %s (live).", c.Subject, kind, name))
}

// certificateImport saves the uploaded PEM/PFX (and key or password) under
// <data_dir>/certificates (0600) and adds it to the configuration live
// once the renewal guard admitted it (node.ImportCertificate); a file that
// does not load or that the guard refuses is removed again and the error
// (the guard's findings with their fixes) shown. The "force" and "repin"
// checkboxes are the CLI's --force and --repin.
func (w *Web) certificateImport(rw http.ResponseWriter, r *http.Request, s *session) {
	fail := func(err error) {
		w.record(r, s, AuditEntry{Action: "certificate.import", Result: "refused", Error: err.Error()})
		d := w.certsData()
		msg := err.Error()
		if errors.As(err, &d.Refused) {
			msg = fmt.Sprintf("Refused: certificate %s (%s, issued by %s) would break mail flow. Nothing was changed.", d.Refused.Thumbprint, d.Refused.Subject, d.Refused.Issuer)
		}
		w.render(rw, r, s, "certificates", "Certificates", d, "", msg)
	}
	dir := filepath.Join(w.n.Runtime().Cfg.DataDir(), "certificates")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		fail(fmt.Errorf("create %s: %w", dir, err))
		return
	}
	stamp := w.now().UTC().Format("20060102-150405") + "-" + randomID()[:8]
	var saved []string
	cleanup := func() {
		for _, p := range saved {
			os.Remove(p)
		}
	}
	save := func(field, suffix string) (string, error) {
		f, _, err := r.FormFile(field)
		if err == http.ErrMissingFile {
			return "", nil
		}
		if err != nil {
			return "", fmt.Errorf("%s: %w", field, err)
		}
		defer f.Close()
		return saveUpload(f, filepath.Join(dir, stamp+suffix), &saved)
	}
	var ref config.CertificateRef
	var err error
	if ref.File, err = save("file", certSuffix(r)); err != nil || ref.File == "" {
		cleanup()
		if err == nil {
			err = fmt.Errorf("choose a certificate file (PEM with its key, or PFX/P12) to import")
		}
		fail(err)
		return
	}
	if ref.KeyFile, err = save("key_file", ".key"); err != nil {
		cleanup()
		fail(err)
		return
	}
	if pw := r.PostFormValue("password"); pw != "" {
		p := filepath.Join(dir, stamp+".pass")
		if err := os.WriteFile(p, []byte(pw+"\n"), 0o600); err != nil {
			cleanup()
			fail(err)
			return
		}
		saved = append(saved, p)
		ref.PasswordFile = p
	}
	opts := node.ImportOptions{Force: r.PostFormValue("force") != "", Repin: r.PostFormValue("repin") != ""}
	res, err := w.n.ImportCertificate(ref, opts)
	if err != nil {
		cleanup()
		fail(err)
		return
	}
	c := res.Cert
	w.record(r, s, AuditEntry{Action: "certificate.import", Target: c.Thumbprint, After: c.Describe(w.now())})
	msg := fmt.Sprintf("Imported %s (thumbprint %s), live.", c.Subject, c.Thumbprint)
	if len(res.Repinned) > 0 {
		msg += " Re-pinned: " + strings.Join(res.Repinned, ", ") + "."
	}
	for _, f := range res.Findings {
		msg += " " + f.String()
	}
	w.back(rw, r, s, "/certificates", msg)
}

func certSuffix(r *http.Request) string {
	_, hdr, err := r.FormFile("file")
	if err != nil {
		return ".pem"
	}
	switch strings.ToLower(filepath.Ext(hdr.Filename)) {
	case ".pfx", ".p12":
		return ".pfx"
	case ".der", ".cer", ".crt":
		return strings.ToLower(filepath.Ext(hdr.Filename))
	}
	return ".pem"
}

// saveUpload writes an uploaded file (at most 1 MB: certificates and keys
// are a few KB) to path, 0600, and records it for clean-up.
func saveUpload(f multipart.File, path string, saved *[]string) (string, error) {
	out, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return "", fmt.Errorf("save upload: %w", err)
	}
	*saved = append(*saved, path)
	if _, err := io.Copy(out, io.LimitReader(f, 1<<20)); err != nil {
		out.Close()
		return "", fmt.Errorf("save upload %s: %w", path, err)
	}
	return path, out.Close()
}
