package e2e

import (
	"encoding/json"
	"os/exec"
	"strconv"
	"testing"
)

// smtpResult is what testdata/smtpclient.py prints.
type smtpResult struct {
	EHLO            []any   `json:"ehlo"`
	StartTLSOffered bool    `json:"starttls_offered"`
	StartTLS        []any   `json:"starttls"`
	Thumbprint      string  `json:"thumbprint"`
	TLSVersion      string  `json:"tls_version"`
	EHLO2           []any   `json:"ehlo2"`
	Mail            []any   `json:"mail"`
	Rcpt            [][]any `json:"rcpt"`
	Data            []any   `json:"data"`
}

func code(r []any) int {
	if len(r) == 0 {
		return 0
	}
	f, _ := r[0].(float64)
	return int(f)
}

func text(r []any) string {
	if len(r) < 2 {
		return ""
	}
	s, _ := r[1].(string)
	return s
}

type pyOpts struct {
	port      int
	source    string
	starttls  bool
	cert, key string
	from      string
	rcpts     []string
	body      string // the message; the script's own when empty
}

// pySMTP runs Python's smtplib against mailflow.
func pySMTP(t *testing.T, o pyOpts) smtpResult {
	t.Helper()
	need(t, "python3")
	args := []string{"testdata/smtpclient.py", "--port", strconv.Itoa(o.port)}
	if o.body != "" {
		args = append(args, "--body", o.body)
	}
	if o.source != "" {
		args = append(args, "--source", o.source)
	}
	if o.starttls {
		args = append(args, "--starttls")
	}
	if o.cert != "" {
		args = append(args, "--cert", o.cert, "--key", o.key)
	}
	if o.from != "" {
		args = append(args, "--mail-from", o.from)
	}
	for _, r := range o.rcpts {
		args = append(args, "--rcpt", r)
	}
	out, err := exec.Command("python3", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("smtplib client: %v\n%s", err, out)
	}
	var res smtpResult
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("smtplib output: %v\n%s", err, out)
	}
	return res
}
