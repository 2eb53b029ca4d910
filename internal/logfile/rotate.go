package logfile

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// current is the file being appended to.
type current struct {
	f          *os.File
	name       string
	hour       int64
	n          int
	size       int64
	headerSize int64
}

// maxSequence bounds the search for a free -n suffix.
const maxSequence = 100000

// Name returns the file name for a prefix, an hour (Unix seconds / 3600) and
// a sequence number: PREFIXyyyymmddhh-n.LOG.
func Name(prefix string, hour int64, n int) string {
	return prefix + time.Unix(hour*3600, 0).UTC().Format("2006010215") + "-" + strconv.Itoa(n) + ".LOG"
}

// ParseName splits a file name written by this package for prefix into its
// hour (Unix seconds / 3600) and sequence number.
func ParseName(prefix, name string) (hour int64, n int, ok bool) {
	if len(name) < len(prefix)+10+2+4 || !strings.EqualFold(name[:len(prefix)], prefix) {
		return 0, 0, false
	}
	rest := name[len(prefix):]
	if !strings.EqualFold(rest[len(rest)-4:], ".LOG") || rest[10] != '-' {
		return 0, 0, false
	}
	t, err := time.Parse("2006010215", rest[:10])
	if err != nil {
		return 0, 0, false
	}
	n, err = strconv.Atoi(rest[11 : len(rest)-4])
	if err != nil || n < 1 {
		return 0, 0, false
	}
	return t.Unix() / 3600, n, true
}

// writeChunk appends data (whole lines of one hour) to the right file,
// rotating by hour and by size. Called with ioMu held.
func (f *File) writeChunk(hour int64, data []byte) error {
	for len(data) > 0 {
		if f.cur == nil || f.cur.hour != hour {
			if err := f.openNext(hour); err != nil {
				return err
			}
		}
		take := fitting(data, f.o.MaxFileSize-f.cur.size)
		if take == 0 {
			if f.cur.size > f.cur.headerSize {
				if err := f.openNext(hour); err != nil {
					return err
				}
				continue
			}
			// A single line larger than a whole file goes alone into a fresh
			// file rather than being lost.
			take = len(data)
			if i := bytes.IndexByte(data, '\n'); i >= 0 {
				take = i + 1
			}
		}
		if _, err := f.cur.f.Write(data[:take]); err != nil {
			name := f.cur.name
			_ = f.cur.f.Close() // the write error is the one worth reporting
			f.cur = nil
			return fmt.Errorf("write log file %s: %w", name, err)
		}
		f.cur.size += int64(take)
		data = data[take:]
	}
	return nil
}

// fitting returns the length of the longest prefix of data made of whole
// lines that fits in room bytes.
func fitting(data []byte, room int64) int {
	if int64(len(data)) <= room {
		return len(data)
	}
	if room <= 0 {
		return 0
	}
	return bytes.LastIndexByte(data[:room], '\n') + 1
}

// openNext closes the current file and opens the next one for hour: the next
// sequence number after the current file of the same hour, or after the
// highest one on disk (a restarted process never appends to an old file).
func (f *File) openNext(hour int64) error {
	n := 1
	if f.cur != nil && f.cur.hour == hour {
		n = f.cur.n + 1
	} else if m, err := f.maxSequence(hour); err != nil {
		return err
	} else {
		n = m + 1
	}
	if f.cur != nil {
		name := f.cur.name
		err := f.cur.f.Close()
		f.cur = nil
		if err != nil {
			return fmt.Errorf("close log file %s: %w", name, err)
		}
	}
	for tries := 0; tries < maxSequence; tries++ {
		name := Name(f.o.Prefix, hour, n)
		path := filepath.Join(f.o.Dir, name)
		fh, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o640)
		if errors.Is(err, fs.ErrExist) {
			n++
			continue
		}
		if err != nil {
			return fmt.Errorf("create log file %s: %w", path, err)
		}
		header := f.o.Header(f.o.Now())
		if _, err := fh.Write(header); err != nil {
			_ = fh.Close() // the write error is the one worth reporting
			return fmt.Errorf("write header of log file %s: %w", path, err)
		}
		f.cur = &current{f: fh, name: name, hour: hour, n: n, size: int64(len(header)), headerSize: int64(len(header))}
		if err := f.purge(name); err != nil {
			f.o.Logger.Warn("log retention failed", "dir", f.o.Dir, "err", err)
		}
		return nil
	}
	return fmt.Errorf("create log file for %s: no free sequence number below %d", Name(f.o.Prefix, hour, n), maxSequence)
}

// maxSequence returns the highest sequence number on disk for hour (0 if none).
func (f *File) maxSequence(hour int64) (int, error) {
	files, err := f.list()
	if err != nil {
		return 0, err
	}
	m := 0
	for _, lf := range files {
		if lf.hour == hour && lf.n > m {
			m = lf.n
		}
	}
	return m, nil
}

type listed struct {
	name string
	hour int64
	n    int
	size int64
}

// list returns this prefix's log files, oldest first.
func (f *File) list() ([]listed, error) {
	entries, err := os.ReadDir(f.o.Dir)
	if err != nil {
		return nil, fmt.Errorf("list log directory %s: %w", f.o.Dir, err)
	}
	var out []listed
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		hour, n, ok := ParseName(f.o.Prefix, e.Name())
		if !ok {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue // removed between ReadDir and Info
		}
		out = append(out, listed{name: e.Name(), hour: hour, n: n, size: info.Size()})
	}
	slices.SortFunc(out, func(a, b listed) int {
		if a.hour != b.hour {
			return int(a.hour - b.hour)
		}
		return a.n - b.n
	})
	return out, nil
}

// purge applies MaxAge, then MaxDirSize, never removing keep. keep (the file
// just opened) is budgeted at MaxFileSize, so the directory stays within
// MaxDirSize while it grows. Age is judged from the hour in the file name, not
// the modification time, so it follows the injected clock and survives
// copying the files elsewhere.
func (f *File) purge(keep string) error {
	files, err := f.list()
	if err != nil {
		return err
	}
	cutoff := f.o.Now().Add(-f.o.MaxAge)
	var errs []error
	kept := files[:0]
	var total int64
	for _, lf := range files {
		end := time.Unix((lf.hour+1)*3600, 0)
		if lf.name != keep && end.Before(cutoff) {
			if err := os.Remove(filepath.Join(f.o.Dir, lf.name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, fmt.Errorf("remove old log file %s: %w", lf.name, err))
				total += lf.size
				kept = append(kept, lf)
			}
			continue
		}
		if lf.name == keep {
			lf.size = max(lf.size, f.o.MaxFileSize)
		}
		total += lf.size
		kept = append(kept, lf)
	}
	for _, lf := range kept {
		if total <= f.o.MaxDirSize {
			break
		}
		if lf.name == keep {
			continue
		}
		if err := os.Remove(filepath.Join(f.o.Dir, lf.name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("remove log file %s over directory size limit: %w", lf.name, err))
			continue
		}
		total -= lf.size
	}
	return errors.Join(errs...)
}
