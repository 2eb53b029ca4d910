package smtp

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// dataFlushSize is how much unstuffed body ReadData gathers before one Write:
// per-line writes through an interface would dominate the cost.
const dataFlushSize = 32 << 10

// ReadData reads a DATA body up to and including the terminating
// <CRLF>.<CRLF>, removes dot-stuffing (RFC 5321 §4.5.2) and writes the body,
// each line still ending in CRLF, to w. It returns the number of bytes
// written.
//
// Only <CRLF>.<CRLF> ends the body; <LF>.<LF>, <LF>.<CRLF> and <CRLF>.<LF>
// never do. Any bare CR or LF makes the body invalid (ErrBareLineEnding): a
// receiver that normalised them could be fooled into seeing a second message
// (SMTP smuggling), and a receiver that passed them on could smuggle to the
// next hop.
//
// maxSize limits the unstuffed body in bytes (0 or less: no limit) and gives
// ErrTooLarge; maxLine limits a line including its CRLF (0: DefaultMaxDataLine,
// less than 0: no limit) and gives ErrDataLineTooLong; a NUL byte gives ErrNUL.
// In every one of these cases ReadData stops writing to w, keeps reading to the
// real end of the body and reports the first problem found, so the session can
// reply and read the next command in step. The caller discards what was
// written. A write error on w is handled the same way and returned wrapped.
//
// The connection ending before the terminator gives io.ErrUnexpectedEOF; other
// read errors are returned wrapped.
func (r *Reader) ReadData(w io.Writer, maxSize int64, maxLine int) (int64, error) {
	if maxLine == 0 {
		maxLine = DefaultMaxDataLine
	}
	var (
		written   int64
		size      int64
		failure   error // first problem; once set nothing more is written
		atStart   = true
		afterCRLF = true // the DATA command itself ended in CRLF
		lineLen   int
		heldCR    bool // the previous chunk of this line ended in CR
	)
	r.out = r.out[:0]
	flush := func() {
		if len(r.out) == 0 || failure != nil {
			r.out = r.out[:0]
			return
		}
		n, err := w.Write(r.out)
		written += int64(n)
		if err != nil {
			failure = fmt.Errorf("write message data: %w", err)
		}
		r.out = r.out[:0]
	}
	fail := func(err error) {
		if failure == nil {
			failure = err
		}
	}
	for {
		chunk, err := r.br.ReadSlice('\n')
		if len(chunk) > 0 {
			complete := chunk[len(chunk)-1] == '\n'
			if atStart {
				if afterCRLF && complete && len(chunk) == 3 && chunk[0] == '.' && chunk[1] == '\r' {
					flush()
					return written, failure
				}
				if chunk[0] == '.' {
					chunk = chunk[1:] // dot-unstuffing
				}
			}
			// inner is the chunk without its line ending (or without a CR
			// that may pair with an LF at the start of the next chunk).
			inner := chunk
			crlf := false
			if complete {
				switch {
				case len(chunk) >= 2 && chunk[len(chunk)-2] == '\r':
					crlf = true
					inner = chunk[:len(chunk)-2]
				case len(chunk) == 1 && heldCR:
					crlf = true
					inner = chunk[:0]
				default:
					fail(ErrBareLineEnding)
					inner = chunk[:len(chunk)-1]
				}
			} else if len(chunk) > 0 && chunk[len(chunk)-1] == '\r' {
				inner = chunk[:len(chunk)-1]
			}
			if heldCR && !(complete && len(chunk) == 1) {
				fail(ErrBareLineEnding) // the held CR was not followed by LF
			}
			heldCR = !complete && len(chunk) > 0 && chunk[len(chunk)-1] == '\r'
			if bytes.IndexByte(inner, '\r') >= 0 {
				fail(ErrBareLineEnding)
			}
			if bytes.IndexByte(inner, 0) >= 0 {
				fail(ErrNUL)
			}
			lineLen += len(chunk)
			if maxLine > 0 && lineLen > maxLine {
				fail(ErrDataLineTooLong)
			}
			size += int64(len(chunk))
			if maxSize > 0 && size > maxSize {
				fail(ErrTooLarge)
			}
			if failure == nil {
				r.out = append(r.out, chunk...)
				if len(r.out) >= dataFlushSize {
					flush()
				}
			}
			atStart = complete
			if complete {
				afterCRLF = crlf
				lineLen = 0
			}
		}
		if err == nil || errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return written, fmt.Errorf("read message data: %w", err)
	}
}
