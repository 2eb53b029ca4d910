package smtp

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// readerBufferSize is the bufio buffer of a server session. It bounds how much
// a client can make us hold per session before a limit check runs.
const readerBufferSize = 4096

// DefaultMaxLine is the RFC 5321 §4.5.3.1.4 command line limit, CRLF included.
const DefaultMaxLine = 512

// DefaultMaxDataLine is the RFC 5321 §4.5.3.1.6 text line limit, CRLF
// included, not counting a dot added for transparency.
const DefaultMaxDataLine = 1000

// Reader reads the client's side of a server session: command lines and DATA
// bodies, strictly. It is not safe for concurrent use.
type Reader struct {
	br   *bufio.Reader
	line []byte // scratch for ReadLine
	out  []byte // scratch for ReadData: output gathered before a bulk Write
}

// NewReader wraps r in a 4 KiB buffer.
func NewReader(r io.Reader) *Reader {
	return &Reader{br: bufio.NewReaderSize(r, readerBufferSize)}
}

// Reset discards any buffered data and reads from r from now on. A session
// calls it with the TLS connection after STARTTLS, having checked Buffered()
// is zero first.
func (r *Reader) Reset(rd io.Reader) { r.br.Reset(rd) }

// Buffered is the number of bytes read from the connection but not consumed.
// A non-zero value when STARTTLS is answered means the client pipelined
// plaintext after STARTTLS (CVE-2011-0411): the session must not execute it.
func (r *Reader) Buffered() int { return r.br.Buffered() }

// ReadLine reads one command line and returns it without its CRLF. max is the
// limit in octets including the CRLF (DefaultMaxLine when max <= 0).
//
// An over-long line is read to its end and discarded before ErrLineTooLong is
// returned, so the next ReadLine starts on the next command. A line ending in
// LF alone gives ErrBareLF, a CR not followed by LF gives ErrBareCR. Read
// errors (io.EOF, timeouts) are returned wrapped; a partial line before EOF
// gives io.ErrUnexpectedEOF.
func (r *Reader) ReadLine(max int) (string, error) {
	if max <= 0 {
		max = DefaultMaxLine
	}
	r.line = r.line[:0]
	n := 0
	for {
		chunk, err := r.br.ReadSlice('\n')
		n += len(chunk)
		if n <= max {
			r.line = append(r.line, chunk...)
		}
		if err == nil {
			break
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if errors.Is(err, io.EOF) && n > 0 {
			err = io.ErrUnexpectedEOF
		}
		return "", fmt.Errorf("read command line: %w", err)
	}
	if n > max {
		return "", ErrLineTooLong
	}
	line := r.line
	if len(line) < 2 || line[len(line)-2] != '\r' {
		return "", ErrBareLF
	}
	line = line[:len(line)-2]
	if bytes.IndexByte(line, '\r') >= 0 {
		return "", ErrBareCR
	}
	return string(line), nil
}
