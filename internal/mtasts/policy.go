package mtasts

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Mode is a policy's mode.
type Mode string

// The modes of RFC 8461 §3.2.
const (
	ModeEnforce Mode = "enforce" // deliver only to matching MX hosts with a valid certificate
	ModeTesting Mode = "testing" // report failures, deliver anyway
	ModeNone    Mode = "none"    // the domain has withdrawn its policy
)

// MaxMaxAge is the largest max_age a policy may give (about a year).
const MaxMaxAge = 31557600 * time.Second

// Policy is a parsed MTA-STS policy.
type Policy struct {
	Mode   Mode          `json:"mode"`
	MX     []string      `json:"mx"` // patterns: "mail.example.com" or "*.example.com"
	MaxAge time.Duration `json:"max_age"`
	// Text is the policy as served, for TLS-RPT's policy-string.
	Text string `json:"text"`
}

// ParsePolicy reads a policy file (RFC 8461 §3.2): "key: value" lines
// separated by LF or CRLF; version (STSv1), mode and max_age are required,
// and at least one mx unless the mode is none. Unknown keys are ignored.
func ParsePolicy(b []byte) (*Policy, error) {
	text := string(b)
	p := &Policy{Text: text}
	var version, mode, maxAge string
	lines := strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n")
	for i, line := range lines {
		line = strings.TrimRight(line, " \t")
		if line == "" {
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			return nil, fmt.Errorf("line %d %q is not \"key: value\"", i+1, clip(line))
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		switch k {
		case "version":
			if version != "" {
				return nil, fmt.Errorf("line %d: version given twice", i+1)
			}
			version = v
		case "mode":
			if mode != "" {
				return nil, fmt.Errorf("line %d: mode given twice", i+1)
			}
			mode = v
		case "max_age":
			if maxAge != "" {
				return nil, fmt.Errorf("line %d: max_age given twice", i+1)
			}
			maxAge = v
		case "mx":
			if p := patternProblem(v); p != "" {
				return nil, fmt.Errorf("line %d: mx %q: %s", i+1, clip(v), p)
			}
			p.MX = append(p.MX, strings.ToLower(strings.TrimSuffix(v, ".")))
		}
	}
	if version != "STSv1" {
		return nil, fmt.Errorf("version is %q, want STSv1", clip(version))
	}
	switch Mode(mode) {
	case ModeEnforce, ModeTesting, ModeNone:
		p.Mode = Mode(mode)
	case "":
		return nil, fmt.Errorf("no mode line (want enforce, testing or none)")
	default:
		return nil, fmt.Errorf("mode %q is not enforce, testing or none", clip(mode))
	}
	if maxAge == "" {
		return nil, fmt.Errorf("no max_age line")
	}
	n, err := strconv.ParseUint(maxAge, 10, 64)
	if err != nil || len(maxAge) > 10 || time.Duration(n)*time.Second > MaxMaxAge {
		return nil, fmt.Errorf("max_age %q is not a number of seconds from 0 to 31557600", clip(maxAge))
	}
	p.MaxAge = time.Duration(n) * time.Second
	if p.Mode != ModeNone && len(p.MX) == 0 {
		return nil, fmt.Errorf("mode %s without any mx line", p.Mode)
	}
	return p, nil
}

func patternProblem(v string) string {
	v = strings.TrimSuffix(v, ".")
	if v == "" {
		return "empty pattern"
	}
	name := strings.TrimPrefix(v, "*.")
	if strings.Contains(name, "*") {
		return "a wildcard is only allowed as the whole left-most label (*.example.com)"
	}
	if len(v) > 253 || strings.ContainsAny(v, " \t/:@") {
		return "not a host name"
	}
	return ""
}

// Matches reports whether host is allowed by one of the policy's mx
// patterns (RFC 8461 §4.1): equal ignoring case and a trailing dot, or
// "*.example.com" standing for exactly one label in front of example.com.
func (p *Policy) Matches(host string) bool { return p.MatchingPattern(host) != "" }

// MatchingPattern is the first pattern that allows host, "" for none.
func (p *Policy) MatchingPattern(host string) string {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	for _, pat := range p.MX {
		if matchPattern(pat, host) {
			return pat
		}
	}
	return ""
}

func matchPattern(pat, host string) bool {
	if rest, ok := strings.CutPrefix(pat, "*."); ok {
		label, parent, ok := strings.Cut(host, ".")
		return ok && label != "" && parent == rest
	}
	return pat == host
}

// SuggestPattern is the mx line that would allow host: the host itself.
// (A wildcard is a choice for the domain's owner, not ours to make.)
func SuggestPattern(host string) string {
	return "mx: " + strings.ToLower(strings.TrimSuffix(host, "."))
}

// Strings is the policy as TLS-RPT's policy-string: its lines, trimmed,
// without empty ones.
func (p *Policy) Strings() []string {
	var out []string
	for _, l := range strings.Split(strings.ReplaceAll(p.Text, "\r\n", "\n"), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}
