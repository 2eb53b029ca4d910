package tlsrpt

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"mime/multipart"
	"net/textproto"
	"time"
)

// FileName is the report's file name (RFC 8460 §5.1):
// submitter!policy-domain!begin!end.json.gz, times in seconds since 1970.
func FileName(r *Report, submitter, domain string) string {
	return fmt.Sprintf("%s!%s!%d!%d.json.gz", submitter, domain, r.DateRange.Start.Unix(), r.DateRange.End.Unix())
}

// Message is the report as an e-mail (RFC 8460 §5.3): multipart/report
// with report-type="tlsrpt", a short text part and the gzipped JSON as
// application/tlsrpt+gzip, with the TLS-Report-Domain and
// TLS-Report-Submitter header fields. Lines end in CRLF.
func Message(r *Report, domain, submitter, from, to string, now time.Time) ([]byte, error) {
	gz, err := r.Gzip()
	if err != nil {
		return nil, err
	}
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	text, err := mw.CreatePart(textproto.MIMEHeader{
		"Content-Type":              {"text/plain; charset=utf-8"},
		"Content-Transfer-Encoding": {"7bit"},
	})
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(text, "This is an aggregate TLS report (RFC 8460) from %s for %s,\r\ncovering %s to %s (UTC).\r\n",
		submitter, domain, r.DateRange.Start.Format(time.RFC3339), r.DateRange.End.Format(time.RFC3339))
	att, err := mw.CreatePart(textproto.MIMEHeader{
		"Content-Type":              {"application/tlsrpt+gzip"},
		"Content-Transfer-Encoding": {"base64"},
		"Content-Disposition":       {`attachment; filename="` + FileName(r, submitter, domain) + `"`},
	})
	if err != nil {
		return nil, err
	}
	enc := base64.StdEncoding.EncodeToString(gz)
	for len(enc) > 76 {
		att.Write([]byte(enc[:76] + "\r\n"))
		enc = enc[76:]
	}
	att.Write([]byte(enc + "\r\n"))
	if err := mw.Close(); err != nil {
		return nil, err
	}

	var msg bytes.Buffer
	h := func(k, v string) { msg.WriteString(k + ": " + v + "\r\n") }
	h("From", from)
	h("To", to)
	h("Date", now.UTC().Format(time.RFC1123Z))
	h("Subject", fmt.Sprintf("Report Domain: %s Submitter: %s Report-ID: <%s>", domain, submitter, r.ReportID))
	h("Message-ID", fmt.Sprintf("<tlsrpt.%d.%s>", now.UnixNano(), r.ReportID))
	h("TLS-Report-Domain", domain)
	h("TLS-Report-Submitter", submitter)
	h("MIME-Version", "1.0")
	h("Content-Type", `multipart/report; report-type="tlsrpt"; boundary="`+mw.Boundary()+`"`)
	msg.WriteString("\r\n")
	msg.Write(body.Bytes())
	return msg.Bytes(), nil
}
