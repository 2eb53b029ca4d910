package tlsrpt

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// ParseRecord reads a "_smtp._tls" TXT record ("v=TLSRPTv1;
// rua=mailto:tlsrpt@example.com,https://reports.example.com/tlsrpt") and
// returns its rua URIs (RFC 8460 §3). Only mailto: and https: are kept;
// other schemes are skipped, as the RFC tells receivers of unknown ones.
func ParseRecord(txt string) ([]string, error) {
	fields := strings.Split(txt, ";")
	if strings.TrimSpace(fields[0]) != "v=TLSRPTv1" {
		return nil, fmt.Errorf("record %q does not start with v=TLSRPTv1", clip(txt))
	}
	var rua []string
	seen := false
	for _, f := range fields[1:] {
		f = strings.TrimSpace(f)
		k, v, ok := strings.Cut(f, "=")
		if !ok || strings.TrimSpace(k) != "rua" {
			continue
		}
		if seen {
			return nil, fmt.Errorf("record %q has more than one rua=", clip(txt))
		}
		seen = true
		for _, u := range strings.Split(v, ",") {
			u = strings.TrimSpace(u)
			pu, err := url.Parse(u)
			if err != nil {
				continue
			}
			switch strings.ToLower(pu.Scheme) {
			case "mailto":
				if addr, err := url.PathUnescape(pu.Opaque); err == nil && strings.Contains(addr, "@") {
					rua = append(rua, "mailto:"+addr)
				}
			case "https":
				if pu.Host != "" {
					rua = append(rua, u)
				}
			}
		}
	}
	if !seen {
		return nil, fmt.Errorf("record %q has no rua=", clip(txt))
	}
	if len(rua) == 0 {
		return nil, fmt.Errorf("record %q names no mailto: or https: address", clip(txt))
	}
	return rua, nil
}

var errNoRecord = errors.New("no _smtp._tls TXT record")

// pickRecord finds the one TLSRPTv1 record among a name's TXT strings.
func pickRecord(txts []string) ([]string, error) {
	var found []string
	for _, t := range txts {
		if strings.HasPrefix(strings.TrimSpace(t), "v=TLSRPTv1") {
			found = append(found, t)
		}
	}
	switch len(found) {
	case 0:
		return nil, errNoRecord
	case 1:
		return ParseRecord(found[0])
	}
	return nil, fmt.Errorf("%d v=TLSRPTv1 records are published; there must be exactly one", len(found))
}

func clip(s string) string {
	const max = 100
	if len(s) > max {
		return s[:max] + "…"
	}
	return s
}
