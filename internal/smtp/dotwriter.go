package smtp

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
)

// writeDotStuffed copies a message body to w in DATA form: every bare CR, bare
// LF and CRLF becomes CRLF (so the next hop never sees a smuggling sequence
// from us), a line starting with '.' gets another '.', a missing final CRLF
// is added, and the body ends with ".\r\n". Runs between line endings are
// copied in bulk.
func writeDotStuffed(w *bufio.Writer, body io.Reader) error {
	buf := make([]byte, 32<<10)
	atStart := true // at the start of a line
	afterCR := false
	for {
		n, rerr := body.Read(buf)
		p := buf[:n]
		for len(p) > 0 {
			if afterCR && p[0] == '\n' {
				// The LF of a CRLF whose CRLF was already written.
				afterCR = false
				p = p[1:]
				continue
			}
			afterCR = false
			if atStart && p[0] == '.' {
				w.WriteByte('.')
			}
			atStart = false
			i := bytes.IndexAny(p, "\r\n")
			if i < 0 {
				w.Write(p)
				break
			}
			w.Write(p[:i])
			w.WriteString("\r\n")
			atStart = true
			afterCR = p[i] == '\r'
			p = p[i+1:]
		}
		if _, err := w.Write(nil); err != nil {
			// bufio errors are sticky: stop reading a body nobody receives.
			return fmt.Errorf("write message body: %w", err)
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return fmt.Errorf("read message body: %w", rerr)
		}
	}
	if !atStart {
		w.WriteString("\r\n")
	}
	if _, err := w.WriteString(".\r\n"); err != nil {
		return fmt.Errorf("write message body: %w", err)
	}
	return nil
}
