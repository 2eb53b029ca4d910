package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/mailflowhq/mailflow/internal/diag/logs"
)

// genlogCmd runs `loadgen genlog`: writes an Exchange-format SmtpReceive
// protocol log of about --size bytes with logs.GenerateProtocolLog (the same
// generator the package's own benchmark uses), for the log-analysis part.
func genlogCmd(args []string) error {
	fs := flag.NewFlagSet("genlog", flag.ContinueOnError)
	sizeFlag := fs.String("size", "1G", "approximate size: bytes, or with K, M or G (powers of 1024)")
	out := fs.String("out", "", "file to write (required)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" {
		return errors.New("genlog: --out is required")
	}
	size, err := parseSize(*sizeFlag)
	if err != nil {
		return fmt.Errorf("genlog --size: %w", err)
	}
	return writeLog(*out, size)
}

func writeLog(path string, size int64) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("create log %s: %w", path, err)
	}
	if err := logs.GenerateProtocolLog(f, size); err != nil {
		f.Close()
		return fmt.Errorf("write log %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write log %s: %w", path, err)
	}
	return nil
}

// parseSize reads 1073741824, 1G, 512M, 64K.
func parseSize(s string) (int64, error) {
	s = strings.TrimSpace(strings.ToUpper(s))
	mult := int64(1)
	switch {
	case strings.HasSuffix(s, "G"):
		mult, s = 1<<30, strings.TrimSuffix(s, "G")
	case strings.HasSuffix(s, "M"):
		mult, s = 1<<20, strings.TrimSuffix(s, "M")
	case strings.HasSuffix(s, "K"):
		mult, s = 1<<10, strings.TrimSuffix(s, "K")
	}
	n, err := strconv.ParseFloat(s, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%q is not a size (write 1G, 512M, 64K or bytes)", s)
	}
	return int64(n * float64(mult)), nil
}
