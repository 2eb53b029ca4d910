package explain

import (
	"net"
	"regexp"
	"strings"
)

// explainMaxInput bounds the text explain looks at. Real error strings are a
// few hundred characters; an event text with its header is a few KB. The cap
// keeps every scan below linear in a bounded size, whatever is pasted or piped.
const explainMaxInput = 64 << 10

// explainStatus is one SMTP reply as found in the input: basic code (may be
// empty when only an enhanced code was given), enhanced code and the text
// after them.
type explainStatus struct {
	code     string // "450"
	enhanced string // "4.7.320"
	text     string // "Certificate validation failed"
}

func (s explainStatus) empty() bool { return s.code == "" && s.enhanced == "" }

// String renders the status as it appears on the wire.
func (s explainStatus) String() string {
	return strings.TrimSpace(strings.Join(nonEmpty(s.code, s.enhanced, s.text), " "))
}

// explainInput is everything parseExplainInput could read from one string.
type explainInput struct {
	raw    string
	norm   string // whitespace runs collapsed to one space: event texts span lines
	lower  string // asciiLower(norm), for case-insensitive phrase tests
	fields map[string]string
	// status is the reply being explained: the innermost one when the input
	// wraps replies ("451 4.4.0 Primary target IP address responded with: "…"").
	status explainStatus
	// outer is the wrapping reply when wrapped is true.
	outer   explainStatus
	wrapped bool
	reason  string // the MSG= reason or the first word of [Message=…]
}

// has reports whether the input contains phrase, ignoring case.
func (in *explainInput) has(phrase string) bool {
	return strings.Contains(in.lower, asciiLower(phrase))
}

// is reports whether the explained status has the enhanced code
// "<class>.<subjectDetail>" for class 4 or 5, e.g. is("7.320") matches 4.7.320
// and 5.7.320: Exchange uses both classes for the same condition.
func (in *explainInput) is(subjectDetail string) bool {
	e := in.status.enhanced
	return len(e) > 2 && (e[0] == '4' || e[0] == '5') && e[2:] == subjectDetail
}

// textHas reports whether the explained status text contains phrase, ignoring case.
func (in *explainInput) textHas(phrase string) bool {
	return strings.Contains(asciiLower(in.status.text), asciiLower(phrase))
}

var (
	explainProxyIPRe   = regexp.MustCompile(`(?i)OutboundProxyTargetIP:[ ]*([0-9A-Fa-f:.\[\]]*)`)
	explainProxyHostRe = regexp.MustCompile(`(?i)OutboundProxyTargetHostName:[ ]*([A-Za-z0-9.*_-]*)`)
	explainTLSErrorRe  = regexp.MustCompile(`(?i)TLS negotiation failed with error ([A-Za-z]+)`)
	explainEventRe     = regexp.MustCompile(`(?i)\bevent[ _-]?(?:id)?[ ]*[:#=]?[ ]*(\d{4,5})\b`)
	explain12014Re     = regexp.MustCompile(`(?i)contains the domain name (.*?) in the personal store`)
	explain12014ConnRe = regexp.MustCompile(`(?i)for the connector (.*?) with a FQDN parameter of (.*?)\.(?: If the connector|\s*$)`)
	explain12016Re     = regexp.MustCompile(`(?i)certificate for the FQDN of (.*?)\.(?: The existing|\s*$)`)
	explainMXHostsRe   = regexp.MustCompile(`(?i)MX hosts of '?([^' ]+?)'? failed MTA-STS`)
	explainEndpointRe  = regexp.MustCompile(`(?i)last endpoint attempted was ([0-9A-Fa-f:.\[\]]+[0-9\]])`)
	explainMTASTSRe    = regexp.MustCompile(`(?i)MTA-STS validation\.? Reason: ?([^\]\[;}]+)`)
	explainReasonRe    = regexp.MustCompile(`^[A-Z][a-z0-9]+(?:[A-Z][A-Za-z0-9]*)+$`)
)

// explainCertReasons are the reasons a validating sender reports under
// 4.7.320 (and since 2025 under 4.4.317), as tlscheck names them.
var explainCertReasons = []string{
	"SubjectMismatch", "CertificateExpired", "CertificateNotYetValid", "UntrustedRoot",
	"IncompleteChain", "WeakKey", "WeakSignature", "NoCertificate",
}

// explainReasonAliases maps spellings seen in other products' logs onto the
// reasons above, so the same advice applies.
var explainReasonAliases = map[string]string{
	"partialchain":        "IncompleteChain",
	"notimevalid":         "CertificateExpired",
	"expired":             "CertificateExpired",
	"namemismatch":        "SubjectMismatch",
	"hostnamemismatch":    "SubjectMismatch",
	"noremotecertificate": "NoCertificate",
	"emptycertificate":    "NoCertificate",
}

// canonicalCertReason returns the known reason r stands for, or "".
func canonicalCertReason(r string) string {
	for _, k := range explainCertReasons {
		if strings.EqualFold(k, r) {
			return k
		}
	}
	return explainReasonAliases[strings.ToLower(r)]
}

// parseExplainInput reads every structure explain knows from s. It never
// fails: what it cannot read stays out of the result.
func parseExplainInput(s string) *explainInput {
	raw := s
	if len(raw) > explainMaxInput {
		raw = raw[:explainMaxInput]
	}
	in := &explainInput{raw: raw, fields: map[string]string{}}
	in.norm = strings.Join(strings.Fields(raw), " ")
	in.lower = asciiLower(in.norm)

	// {KEY=VALUE} groups: message trace reasons, queue LastError, tracking
	// recipient-status and mailflow's own detail strings all use them.
	scanBraceFields(in.norm, in.fields)

	if m := explainProxyIPRe.FindStringSubmatch(in.norm); m != nil {
		setField(in.fields, "OutboundProxyTargetIP", strings.TrimRight(m[1], "."))
	}
	if m := explainProxyHostRe.FindStringSubmatch(in.norm); m != nil {
		setField(in.fields, "OutboundProxyTargetHostName", strings.TrimRight(m[1], "."))
	}

	// The status line: the LED= value when present (it is the reply), else
	// the first reply found in the raw text (line ends still count there).
	source := in.fields["LED"]
	if source == "" {
		source = raw
	}
	scanBracketFields(source, in.fields)
	in.status = findStatus(source)
	parseWrapper(in, source)

	if m := explainEndpointRe.FindStringSubmatch(in.norm); m != nil {
		setField(in.fields, "LastEndpoint", m[1])
	}
	parseSubjectLabels(in)
	parseReason(in)

	if m := explainTLSErrorRe.FindStringSubmatch(in.norm); m != nil {
		in.fields["TLSError"] = m[1]
	}
	parseEvent(in)
	if m := explainMXHostsRe.FindStringSubmatch(in.norm); m != nil {
		setField(in.fields, "Domain", strings.TrimRight(m[1], "."))
	}
	if m := explainMTASTSRe.FindStringSubmatch(in.norm); m != nil {
		setField(in.fields, "MTASTSReason", strings.TrimRight(strings.TrimSpace(m[1]), "."))
	}
	return in
}

// setField stores a non-empty value, keeping the first one seen.
func setField(fields map[string]string, key, value string) {
	value = strings.TrimSpace(value)
	if value == "" {
		return
	}
	if _, ok := fields[key]; !ok {
		fields[key] = value
	}
}

// explainFieldNames gives the canonical spelling of the brace and bracket
// keys explain reads, so "{led=…}" and "{LED=…}" land in the same field.
var explainFieldNames = map[string]string{
	"led": "LED", "msg": "MSG", "fqdn": "FQDN", "ip": "IP", "lrt": "LRT",
	"message": "Message", "lastattemptedservername": "LastAttemptedServerName",
	"lastattemptedip": "LastAttemptedIP",
}

func canonicalFieldName(k string) string {
	if c, ok := explainFieldNames[strings.ToLower(k)]; ok {
		return c
	}
	return k
}

// scanBraceFields finds {KEY=VALUE} groups. A value runs to the "}" that
// closes its group; "[" … "]" and nested "{" … "}" inside it are kept, since
// LED values carry [Message=…] sections.
func scanBraceFields(s string, fields map[string]string) {
	for i := 0; i < len(s); i++ {
		if s[i] != '{' {
			continue
		}
		j := i + 1
		for j < len(s) && isKeyByte(s[j]) {
			j++
		}
		if j == i+1 || j >= len(s) || s[j] != '=' {
			continue
		}
		key := canonicalFieldName(s[i+1 : j])
		depth, k := 0, j+1
	value:
		for ; k < len(s); k++ {
			switch s[k] {
			case '[', '{':
				depth++
			case ']':
				if depth > 0 {
					depth--
				}
			case '}':
				if depth == 0 {
					break value
				}
				depth--
			}
		}
		setField(fields, key, s[j+1:k])
		i = k
	}
}

func isKeyByte(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

// scanBracketFields reads the [Key=Value] sections of a status line
// ([Message=…], [LastAttemptedServerName=…], [LastAttemptedIP=…]) and the
// bare [server] section that names the server which made the attempt.
// Brackets are paired with a stack so nested sections are all seen in one pass.
func scanBracketFields(s string, fields map[string]string) {
	var stack []int
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '[':
			if len(stack) < 64 {
				stack = append(stack, i)
			}
		case ']':
			if len(stack) == 0 {
				continue
			}
			open := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			content := s[open+1 : i]
			eq := strings.IndexByte(content, '=')
			key := ""
			if eq > 0 {
				key = content[:eq]
				for k := 0; k < len(key); k++ {
					if !isKeyByte(key[k]) {
						key = ""
						break
					}
				}
			}
			switch {
			case key != "":
				setField(fields, canonicalFieldName(key), content[eq+1:])
			case eq < 0 && content != "" && !strings.ContainsAny(content, " {}\"'") && strings.Contains(content, ".") && !isIPLiteral(content):
				setField(fields, "Server", content)
			}
		}
	}
}

func isIPLiteral(s string) bool {
	if net.ParseIP(s) != nil {
		return true
	}
	host, _, err := net.SplitHostPort(s)
	return err == nil && net.ParseIP(host) != nil
}

// findStatus returns the first SMTP reply in s: an optional basic code
// ([2-5]dd followed by a space or hyphen) and an enhanced code class.d.d.
// When the first enhanced code comes without a basic code and a later one with
// the same enhanced code has it (NDR text "#5.7.1 smtp;530 5.7.1 …"), the
// later, fuller one wins.
func findStatus(s string) explainStatus {
	var first explainStatus
	found := 0
	for i := 0; i < len(s) && found < 32; i++ {
		st, end, ok := statusAt(s, i)
		if !ok {
			continue
		}
		found++
		st.text = statusText(s[end:])
		if first.empty() {
			first = st
			if st.code != "" {
				return first
			}
		} else if st.code != "" && st.enhanced == first.enhanced {
			return st
		}
		i = end - 1
	}
	if first.empty() {
		// A basic code alone at the very start ("421 Service not available").
		if len(s) >= 3 && isDigit(s[0]) && s[0] >= '2' && s[0] <= '5' && isDigit(s[1]) && isDigit(s[2]) &&
			(len(s) == 3 || s[3] == ' ' || s[3] == '-') {
			first = explainStatus{code: s[:3], text: statusText(s[3:])}
		}
	}
	return first
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isWordByte(c byte) bool {
	return isDigit(c) || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c == '.' || c == '_'
}

// statusAt tries to read a reply starting at i; end is the index after the
// enhanced code.
func statusAt(s string, i int) (st explainStatus, end int, ok bool) {
	if i > 0 && isWordByte(s[i-1]) {
		return st, 0, false
	}
	j := i
	// Optional basic code.
	if j+4 <= len(s) && s[j] >= '2' && s[j] <= '5' && isDigit(s[j+1]) && isDigit(s[j+2]) && (s[j+3] == ' ' || s[j+3] == '-') {
		st.code = s[j : j+3]
		j += 4
	}
	enh, n := enhancedAt(s, j)
	if n == 0 {
		if st.code != "" {
			// The basic code matched but no enhanced code follows: retry as
			// an enhanced code at i itself (it cannot be both).
			return explainStatus{}, 0, false
		}
		return st, 0, false
	}
	st.enhanced = enh
	return st, j + n, true
}

// enhancedAt reads class.subject.detail at j (class 2, 4 or 5; subject and
// detail 1–3 digits) not followed by another digit or ".digit", so IP
// addresses and version numbers are not mistaken for codes.
func enhancedAt(s string, j int) (string, int) {
	if j >= len(s) || (s[j] != '2' && s[j] != '4' && s[j] != '5') {
		return "", 0
	}
	k := j + 1
	for part := 0; part < 2; part++ {
		if k >= len(s) || s[k] != '.' {
			return "", 0
		}
		k++
		start := k
		for k < len(s) && isDigit(s[k]) && k-start < 4 {
			k++
		}
		if k == start || k-start > 3 {
			return "", 0
		}
	}
	if k < len(s) && (isDigit(s[k]) || s[k] == '.' && k+1 < len(s) && isDigit(s[k+1])) {
		return "", 0
	}
	return s[j:k], k - j
}

// statusText is the reply text after the codes, up to the end of its line
// or the end of the structure it sits in.
func statusText(s string) string {
	s = strings.TrimLeft(s, " \t-;:.")
	if k := strings.IndexAny(s, "\r\n}>\""); k >= 0 {
		s = s[:k]
	}
	return strings.TrimSpace(s)
}

// displayText drops the [Key=Value] sections from a status text: they are
// reported as fields.
func displayText(s string) string {
	var b strings.Builder
	depth := 0
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '[':
			depth++
		case s[i] == ']' && depth > 0:
			depth--
		case depth == 0:
			b.WriteByte(s[i])
		}
	}
	return strings.Join(strings.Fields(b.String()), " ")
}

// explainWrapperMarkers introduce a reply quoted inside another one:
// Exchange's failover text and the front-end proxy's session setup failure.
var explainWrapperMarkers = []string{"responded with:", "failed on frontend with", "responded with"}

// parseWrapper finds the innermost quoted reply. Exchange nests them
// ("450 4.7.0 Proxy session setup failed on Frontend with '451 4.4.0 Primary
// target IP address responded with: "454 4.7.5 …"'"), and the innermost one is
// what the target (or the sender itself) actually said.
func parseWrapper(in *explainInput, source string) {
	lower := asciiLower(source)
	at, marker := -1, ""
	for _, m := range explainWrapperMarkers {
		if k := strings.LastIndex(lower, m); k > at {
			at, marker = k, m
		}
	}
	if at < 0 {
		return
	}
	rest := strings.TrimLeft(source[at+len(marker):], " :")
	var inner string
	if closers := openingQuote(rest); closers != "" {
		rest = strings.TrimLeft(rest, "\"'“")
		end := strings.IndexAny(rest, closers)
		if end < 0 {
			end = len(rest)
		}
		inner = rest[:end]
	} else {
		inner = rest
		if k := strings.Index(asciiLower(inner), "attempted failover"); k >= 0 {
			inner = inner[:k]
		}
	}
	inner = strings.TrimSpace(inner)
	if inner == "" {
		return
	}
	outer := findStatus(source)
	innerStatus := findStatus(inner)
	in.wrapped = true
	in.outer = outer
	in.fields["PrimaryResponse"] = inner
	if !outer.empty() {
		in.fields["Wrapper"] = strings.TrimSpace(outer.code + " " + outer.enhanced)
	}
	if !innerStatus.empty() {
		in.status = innerStatus
	} else {
		in.status = outer
	}
}

// openingQuote returns the characters that close the quote s starts with,
// or "" when s does not start with a quote. CSV doubling ("") is tolerated.
func openingQuote(s string) string {
	switch {
	case strings.HasPrefix(s, "“"):
		return "”\""
	case strings.HasPrefix(s, "\""):
		return "\"”"
	case strings.HasPrefix(s, "'"):
		return "'"
	}
	return ""
}

// explainSubjectLabels are the labelled values of a SubjectMismatch message:
// "Expected Subject: X. Presented Subject: Y. Thumbprint: Z".
var explainSubjectLabels = []struct{ label, field string }{
	{"expected subject:", "ExpectedSubject"},
	{"presented subject:", "PresentedSubject"},
	{"thumbprint:", "Thumbprint"},
}

func parseSubjectLabels(in *explainInput) {
	src := in.fields["Message"]
	if src == "" || !strings.Contains(strings.ToLower(src), "subject:") {
		src = in.norm
	}
	lower := asciiLower(src)
	type hit struct {
		at    int
		end   int
		field string
	}
	var hits []hit
	for _, l := range explainSubjectLabels {
		if k := strings.Index(lower, l.label); k >= 0 {
			hits = append(hits, hit{k, k + len(l.label), l.field})
		}
	}
	for i, h := range hits {
		stop := len(src)
		for j, o := range hits {
			if j != i && o.at > h.at && o.at < stop {
				stop = o.at
			}
		}
		v := src[h.end:stop]
		// The message ends at the end of its [Message=…] section or the reply.
		if k := strings.IndexAny(v, "]};"); k >= 0 {
			v = v[:k]
		}
		v = strings.TrimSpace(v)
		v = strings.TrimSuffix(v, ".")
		setField(in.fields, h.field, strings.TrimSpace(v))
	}
	if tp := in.fields["Thumbprint"]; tp != "" {
		// A thumbprint is one token; anything after it is other text.
		in.fields["Thumbprint"] = strings.Fields(tp)[0]
	}
}

// parseReason picks the validation reason: MSG= first, then the first word
// of [Message=…] when it reads as a reason identifier, then a known reason
// named anywhere in the input.
func parseReason(in *explainInput) {
	if r := strings.TrimSpace(in.fields["MSG"]); r != "" {
		in.reason = strings.Fields(r)[0]
		return
	}
	if m := strings.Fields(in.fields["Message"]); len(m) > 0 {
		w := strings.TrimRight(m[0], ".,;:")
		if canonicalCertReason(w) != "" || explainReasonRe.MatchString(w) {
			in.reason = w
			return
		}
	}
	for _, w := range strings.FieldsFunc(in.norm, func(r rune) bool {
		return !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z')
	}) {
		for _, k := range explainCertReasons {
			if w == k {
				in.reason = k
				return
			}
		}
	}
}

// parseEvent recognises MSExchangeTransport events 12014 and 12016 by id or
// by their message text and reads their parameters.
func parseEvent(in *explainInput) {
	id := ""
	if m := explainEventRe.FindStringSubmatch(in.norm); m != nil {
		id = m[1]
	}
	if in.norm == "12014" || in.norm == "12016" {
		id = in.norm
	}
	switch {
	case in.has("could not find a certificate that contains the domain name"),
		in.has("unable to support the STARTTLS SMTP verb"):
		id = "12014"
	case in.has("no valid SMTP Transport Layer Security (TLS) certificate for the FQDN"),
		in.has("STARTTLS certificate has expired"):
		id = "12016"
	}
	if id == "" {
		return
	}
	in.fields["EventID"] = id
	if m := explain12014Re.FindStringSubmatch(in.norm); m != nil {
		setField(in.fields, "CertificateDomain", m[1])
	}
	if m := explain12014ConnRe.FindStringSubmatch(in.norm); m != nil {
		setField(in.fields, "Connector", m[1])
		setField(in.fields, "ConnectorFQDN", m[2])
	}
	if m := explain12016Re.FindStringSubmatch(in.norm); m != nil {
		setField(in.fields, "ConnectorFQDN", m[1])
	}
}

// asciiLower lowers A–Z only, so byte offsets found in the result are valid
// in the original (strings.ToLower may change the length of non-ASCII text).
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

func nonEmpty(ss ...string) []string {
	out := ss[:0:0]
	for _, s := range ss {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}
