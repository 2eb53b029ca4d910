package logfile

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
)

// MaxLineSize is the longest physical line a Scanner accepts; longer lines
// are skipped and counted as malformed so that a corrupt file cannot make the
// reader buffer without bound.
const MaxLineSize = 1 << 20

const readBufferSize = 64 << 10

var bom = []byte{0xEF, 0xBB, 0xBF}

var (
	errUnterminatedQuote = errors.New("quote not closed before end of line")
	errAfterQuote        = errors.New("text after closing quote")
)

// Scanner reads the records of an Exchange-style CSV log stream.
type Scanner struct {
	br       *bufio.Reader
	fields   []string
	fieldGen int
	logType  string
	software string
	version  string
	date     string

	rec  [][]byte
	unq  []byte
	long []byte

	line      int64
	malformed int64
}

// NewScanner returns a Scanner over r. defaultFields names the columns until
// a #Fields header says otherwise (so header-less snippets, such as lines
// pasted from an article, still read); it may be nil.
func NewScanner(r io.Reader, defaultFields []string) *Scanner {
	return &Scanner{
		br:     bufio.NewReaderSize(r, readBufferSize),
		fields: defaultFields,
	}
}

// Fields returns the current column names.
func (s *Scanner) Fields() []string { return s.fields }

// FieldsVersion changes whenever a #Fields header changes the columns, so a
// caller can rebuild its column mapping only when needed.
func (s *Scanner) FieldsVersion() int { return s.fieldGen }

// LogType returns the last #Log-type header value ("" if none yet).
func (s *Scanner) LogType() string { return s.logType }

// Software returns the last #Software header value.
func (s *Scanner) Software() string { return s.software }

// Version returns the last #Version header value.
func (s *Scanner) Version() string { return s.version }

// Date returns the last #Date header value.
func (s *Scanner) Date() string { return s.date }

// Line returns the number of the physical line last read (1-based).
func (s *Scanner) Line() int64 { return s.line }

// Malformed returns how many lines were skipped as malformed.
func (s *Scanner) Malformed() int64 { return s.malformed }

// MarkMalformed counts the record just returned as malformed; callers use it
// when a field fails their own validation.
func (s *Scanner) MarkMalformed() { s.malformed++ }

// Next returns the fields of the next record. The slices alias the Scanner's
// buffers and are valid only until the next call. Header lines are consumed;
// blank lines are ignored; malformed lines (bad quoting, wrong column count,
// too long) are counted and skipped. It returns io.EOF at the end, or the
// underlying read error.
func (s *Scanner) Next() ([][]byte, error) {
	for {
		line, err := s.readLine()
		if err != nil {
			return nil, err
		}
		if line == nil {
			continue // over-long line, already counted
		}
		line = bytes.TrimPrefix(line, bom)
		if len(line) == 0 {
			continue
		}
		if line[0] == '#' {
			s.header(line)
			continue
		}
		if err := s.split(line); err != nil {
			s.malformed++
			continue
		}
		if len(s.fields) > 0 && len(s.rec) != len(s.fields) {
			s.malformed++
			continue
		}
		return s.rec, nil
	}
}

// readLine returns the next physical line without its line end. It returns
// a nil line (and nil error) for a line over MaxLineSize, after counting it.
func (s *Scanner) readLine() ([]byte, error) {
	b, err := s.br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		s.long = append(s.long[:0], b...)
		tooLong := false
		for errors.Is(err, bufio.ErrBufferFull) {
			b, err = s.br.ReadSlice('\n')
			if !tooLong {
				s.long = append(s.long, b...)
				if len(s.long) > MaxLineSize {
					tooLong = true
					s.long = s.long[:0]
				}
			}
		}
		if tooLong {
			s.line++
			s.malformed++
			if err != nil && !errors.Is(err, io.EOF) {
				return nil, fmt.Errorf("read log: %w", err)
			}
			return nil, nil
		}
		b = s.long
	}
	if err != nil {
		if !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("read log: %w", err)
		}
		if len(b) == 0 {
			return nil, io.EOF
		}
	}
	s.line++
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
	}
	if n := len(b); n > 0 && b[n-1] == '\r' {
		b = b[:n-1]
	}
	if b == nil {
		b = []byte{}
	}
	return b, nil
}

// header interprets a "#Key: value" line. Unknown keys are ignored.
func (s *Scanner) header(line []byte) {
	colon := bytes.IndexByte(line, ':')
	if colon < 0 {
		return
	}
	key := string(bytes.TrimSpace(line[1:colon]))
	val := strings.TrimSpace(string(line[colon+1:]))
	switch {
	case strings.EqualFold(key, "Fields"):
		sep := ","
		if !strings.Contains(val, ",") {
			sep = " " // W3C style, as IIS writes it
		}
		var names []string
		for _, f := range strings.Split(val, sep) {
			if f = strings.TrimSpace(f); f != "" {
				names = append(names, f)
			}
		}
		s.fields = names
		s.fieldGen++
	case strings.EqualFold(key, "Log-type"):
		s.logType = val
	case strings.EqualFold(key, "Software"):
		s.software = val
	case strings.EqualFold(key, "Version"):
		s.version = val
	case strings.EqualFold(key, "Date"):
		s.date = val
	}
}

// split cuts line into s.rec. Unquoted fields and quoted fields without
// doubled quotes are slices of line; only fields with doubled quotes are
// copied (into s.unq). A quote inside an unquoted field is taken literally.
func (s *Scanner) split(line []byte) error {
	s.rec = s.rec[:0]
	s.unq = s.unq[:0]
	for {
		if len(line) == 0 || line[0] != '"' {
			j := bytes.IndexByte(line, ',')
			if j < 0 {
				s.rec = append(s.rec, line)
				return nil
			}
			s.rec = append(s.rec, line[:j])
			line = line[j+1:]
			continue
		}
		i := 1
		doubled := false
		for {
			j := bytes.IndexByte(line[i:], '"')
			if j < 0 {
				return errUnterminatedQuote
			}
			i += j
			if i+1 < len(line) && line[i+1] == '"' {
				doubled = true
				i += 2
				continue
			}
			break
		}
		field := line[1:i]
		if doubled {
			start := len(s.unq)
			for k := 0; k < len(field); k++ {
				s.unq = append(s.unq, field[k])
				if field[k] == '"' {
					k++ // skip the second quote of the pair
				}
			}
			field = s.unq[start:len(s.unq):len(s.unq)]
		}
		s.rec = append(s.rec, field)
		rest := line[i+1:]
		if len(rest) == 0 {
			return nil
		}
		if rest[0] != ',' {
			return errAfterQuote
		}
		line = rest[1:]
	}
}
