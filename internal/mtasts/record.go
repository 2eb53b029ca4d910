package mtasts

import (
	"errors"
	"fmt"
	"strings"
)

// ParseRecord reads an "_mta-sts" TXT record ("v=STSv1; id=20160831085700Z")
// and returns its id (RFC 8461 §3.1). Unknown fields are ignored; v=STSv1
// must come first and id must be 1 to 32 letters and digits.
func ParseRecord(txt string) (id string, err error) {
	fields := strings.Split(txt, ";")
	first := strings.TrimSpace(fields[0])
	if first != "v=STSv1" {
		return "", fmt.Errorf("record %q does not start with v=STSv1", clip(txt))
	}
	for _, f := range fields[1:] {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			return "", fmt.Errorf("field %q in %q is not key=value", clip(f), clip(txt))
		}
		if k == "id" {
			if id != "" {
				return "", fmt.Errorf("record %q has more than one id", clip(txt))
			}
			if !validID(v) {
				return "", fmt.Errorf("id %q is not 1 to 32 letters and digits", clip(v))
			}
			id = v
		}
	}
	if id == "" {
		return "", fmt.Errorf("record %q has no id=", clip(txt))
	}
	return id, nil
}

// ErrNoRecord: the domain publishes no MTA-STS TXT record.
var ErrNoRecord = errors.New("no _mta-sts TXT record")

// PickRecord finds the one STS record among a name's TXT strings. Strings
// not starting with "v=STSv1" belong to something else; more than one STS
// record is an error (RFC 8461 §3.1: treat as no policy).
func PickRecord(txts []string) (id string, err error) {
	var found []string
	for _, t := range txts {
		if strings.HasPrefix(strings.TrimSpace(t), "v=STSv1") {
			found = append(found, t)
		}
	}
	switch len(found) {
	case 0:
		return "", ErrNoRecord
	case 1:
		return ParseRecord(found[0])
	}
	return "", fmt.Errorf("%d v=STSv1 records are published; there must be exactly one", len(found))
}

func validID(s string) bool {
	if len(s) < 1 || len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

// clip bounds hostile input quoted in an error.
func clip(s string) string {
	const max = 80
	if len(s) > max {
		return s[:max] + "…"
	}
	return s
}
