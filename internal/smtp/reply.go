package smtp

import (
	"bufio"
	"fmt"
	"strconv"
	"strings"
)

// Reply is one SMTP reply, possibly multi-line.
type Reply struct {
	Code int
	// Enhanced is the RFC 3463 status code ("2.0.0"), or "" for none (the
	// banner, EHLO lines, servers without ENHANCEDSTATUSCODES).
	Enhanced string
	// Lines is the text of each line, without code or enhanced code.
	Lines []string
}

// String is the first line in wire form, for logging: "250 2.0.0 OK".
func (r Reply) String() string {
	first := ""
	if len(r.Lines) > 0 {
		first = r.Lines[0]
	}
	return r.line(first, true)
}

// Text is every line joined with a space after the code and enhanced code:
// "250 2.0.0 OK queued" — the form used in status strings and errors.
func (r Reply) Text() string {
	return r.line(strings.Join(r.Lines, " "), true)
}

// Positive reports a 2xx reply.
func (r Reply) Positive() bool { return r.Code >= 200 && r.Code < 300 }

// line renders one line as received or for status strings (the text as
// it is); last selects "NNN " over "NNN-".
func (r Reply) line(text string, last bool) string {
	return string(r.appendLine(nil, text, last, false))
}

// appendLine appends one line without CRLF: "NNN-text" or, last, "NNN text"
// (just "NNN" when there is neither text nor enhanced code: RFC 5321's
// Reply-code [ SP textstring ]). wire replaces control characters in the
// text by spaces, so that a reply echoing client input can never break the
// framing. It appends into dst so that a reply goes straight into the
// session's write buffer, without a string per line.
func (r Reply) appendLine(dst []byte, text string, last, wire bool) []byte {
	dst = strconv.AppendInt(dst, int64(r.Code), 10)
	if last && text == "" && r.Enhanced == "" {
		return dst
	}
	if last {
		dst = append(dst, ' ')
	} else {
		dst = append(dst, '-')
	}
	if r.Enhanced != "" {
		dst = append(dst, r.Enhanced...)
		if text != "" {
			dst = append(dst, ' ')
		}
	}
	if !wire {
		return append(dst, text...)
	}
	for i := 0; i < len(text); i++ {
		c := text[i]
		if c < 0x20 || c == 0x7f {
			c = ' '
		}
		dst = append(dst, c)
	}
	return dst
}

// lines is the reply's text lines, one empty line when it has none.
func (r Reply) lines() []string {
	if len(r.Lines) == 0 {
		return []string{""}
	}
	return r.Lines
}

// WireLines returns the reply as it is sent, one string per line without CRLF.
// Control characters in the text are replaced by spaces so a reply echoing
// client input can never break the framing.
func (r Reply) WireLines() []string {
	lines := r.lines()
	out := make([]string, len(lines))
	for i, text := range lines {
		out[i] = string(r.appendLine(nil, text, i == len(lines)-1, true))
	}
	return out
}

// WriteReply writes r in wire form ("250-…" lines, then "250 …"), each line
// carrying the enhanced code when one is set, exactly as WireLines renders
// it. It does NOT flush: a session answering a PIPELINING group flushes
// once after the last reply (RFC 2920), any other caller flushes right
// after.
func WriteReply(w *bufio.Writer, r Reply) error {
	if r.Code < 200 || r.Code > 599 {
		return fmt.Errorf("write reply: invalid code %d", r.Code)
	}
	lines := r.lines()
	for i, text := range lines {
		// Rendered into the writer's free space: no allocation unless the
		// line is longer than what is left of the buffer.
		buf := r.appendLine(w.AvailableBuffer(), text, i == len(lines)-1, true)
		buf = append(buf, '\r', '\n')
		if _, err := w.Write(buf); err != nil {
			return fmt.Errorf("write reply: %w", err)
		}
	}
	return nil
}

// Limits on what a client accepts from a server: generous (real servers
// exceed RFC 5321's 512 octets) but bounded.
const (
	maxReplyLine  = 8192
	maxReplyLines = 1000
)

// ReadReply reads one reply from a server. Lines may end in LF alone (a client
// is lenient with what servers send); every line must carry the same code. The
// enhanced code is recognised when the first line's text starts with one whose
// class matches the reply code. onLine, when not nil, sees every raw line.
func ReadReply(br *bufio.Reader, onLine func(string)) (Reply, error) {
	var r Reply
	for n := 0; ; n++ {
		if n >= maxReplyLines {
			return Reply{}, fmt.Errorf("%w: more than %d lines", ErrBadReply, maxReplyLines)
		}
		raw, err := readReplyLine(br)
		if err != nil {
			return Reply{}, err
		}
		if onLine != nil {
			onLine(raw)
		}
		code, last, text, err := splitReplyLine(raw)
		if err != nil {
			return Reply{}, err
		}
		if n == 0 {
			r.Code = code
			r.Enhanced = enhancedPrefix(code, text)
		} else if code != r.Code {
			return Reply{}, fmt.Errorf("%w: code %d after %d in one reply", ErrBadReply, code, r.Code)
		}
		r.Lines = append(r.Lines, stripEnhanced(r.Enhanced, text))
		if last {
			return r, nil
		}
	}
}

func readReplyLine(br *bufio.Reader) (string, error) {
	var line []byte
	for {
		chunk, err := br.ReadSlice('\n')
		if len(line)+len(chunk) > maxReplyLine {
			return "", fmt.Errorf("%w: line longer than %d octets", ErrBadReply, maxReplyLine)
		}
		line = append(line, chunk...)
		if err == nil {
			break
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		return "", fmt.Errorf("read reply: %w", err)
	}
	line = line[:len(line)-1]
	if len(line) > 0 && line[len(line)-1] == '\r' {
		line = line[:len(line)-1]
	}
	return string(line), nil
}

// splitReplyLine parses "250-text", "250 text" or "250".
func splitReplyLine(line string) (code int, last bool, text string, err error) {
	if len(line) < 3 || line[0] < '2' || line[0] > '5' || !isDigit(line[1]) || !isDigit(line[2]) {
		return 0, false, "", fmt.Errorf("%w: %q", ErrBadReply, truncate(line, 80))
	}
	code = int(line[0]-'0')*100 + int(line[1]-'0')*10 + int(line[2]-'0')
	switch {
	case len(line) == 3:
		return code, true, "", nil
	case line[3] == ' ':
		return code, true, line[4:], nil
	case line[3] == '-':
		return code, false, line[4:], nil
	}
	return 0, false, "", fmt.Errorf("%w: %q", ErrBadReply, truncate(line, 80))
}

// enhancedPrefix returns the RFC 3463 code at the start of text when its class
// matches the reply code ("550" with "5.1.1 …").
func enhancedPrefix(code int, text string) string {
	end := strings.IndexByte(text, ' ')
	if end < 0 {
		end = len(text)
	}
	candidate := text[:end]
	parts := strings.Split(candidate, ".")
	if len(parts) != 3 || len(parts[0]) != 1 || int(parts[0][0]-'0') != code/100 {
		return ""
	}
	for _, p := range parts[1:] {
		if p == "" || len(p) > 3 {
			return ""
		}
		for i := 0; i < len(p); i++ {
			if !isDigit(p[i]) {
				return ""
			}
		}
	}
	return candidate
}

func stripEnhanced(enhanced, text string) string {
	if enhanced == "" || !strings.HasPrefix(text, enhanced) {
		return text
	}
	return strings.TrimPrefix(text[len(enhanced):], " ")
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
