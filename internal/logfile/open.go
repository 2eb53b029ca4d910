package logfile

import (
	"bufio"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
)

// Open opens a log file for reading, transparently decompressing it when it
// starts with the gzip magic bytes (whatever its name: archived Exchange logs
// are often compressed but keep .LOG).
func Open(path string) (io.ReadCloser, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open log %s: %w", path, err)
	}
	br := bufio.NewReaderSize(f, readBufferSize)
	magic, err := br.Peek(2)
	if err != nil && !errors.Is(err, io.EOF) {
		_ = f.Close() // the read error is the one worth reporting
		return nil, fmt.Errorf("read log %s: %w", path, err)
	}
	if len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			_ = f.Close() // the gzip error is the one worth reporting
			return nil, fmt.Errorf("open gzip log %s: %w", path, err)
		}
		return &gzipFile{zr: zr, f: f, path: path}, nil
	}
	return &plainFile{Reader: br, f: f}, nil
}

type plainFile struct {
	*bufio.Reader
	f *os.File
}

func (p *plainFile) Close() error { return p.f.Close() }

type gzipFile struct {
	zr   *gzip.Reader
	f    *os.File
	path string
}

func (g *gzipFile) Read(p []byte) (int, error) {
	n, err := g.zr.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		err = fmt.Errorf("decompress log %s: %w", g.path, err)
	}
	return n, err
}

func (g *gzipFile) Close() error {
	zerr := g.zr.Close()
	ferr := g.f.Close()
	return errors.Join(zerr, ferr)
}
