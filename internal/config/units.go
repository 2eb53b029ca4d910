package config

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// ParseDuration reads a duration as Go writes it ("90s", "5m", "1h30m")
// plus whole days ("2d"). A bare number is refused: "300" could mean
// seconds or minutes, and guessing wrong silently is worse than asking.
func ParseDuration(s string) (Duration, error) {
	t := strings.TrimSpace(s)
	if t == "" {
		return 0, errors.New("empty duration")
	}
	if days, ok := strings.CutSuffix(t, "d"); ok {
		n, err := strconv.ParseInt(days, 10, 64)
		if err != nil || n < 0 || n > math.MaxInt64/int64(24*time.Hour) {
			return 0, fmt.Errorf("%q is not a duration (whole days are written like 2d)", s)
		}
		return Duration(time.Duration(n) * 24 * time.Hour), nil
	}
	if _, err := strconv.ParseFloat(t, 64); err == nil && t != "0" {
		return 0, fmt.Errorf("%q has no unit", s)
	}
	d, err := time.ParseDuration(t)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration", s)
	}
	return Duration(d), nil
}

// Duration returns the standard library form.
func (d Duration) Duration() time.Duration { return time.Duration(d) }

// String writes the duration the way an administrator would: "24h", "5m",
// "90s", falling back to Go's form for odd values.
func (d Duration) String() string {
	td := time.Duration(d)
	switch {
	case td == 0:
		return "0s"
	case td%time.Hour == 0:
		return strconv.FormatInt(int64(td/time.Hour), 10) + "h"
	case td%time.Minute == 0:
		return strconv.FormatInt(int64(td/time.Minute), 10) + "m"
	case td%time.Second == 0:
		return strconv.FormatInt(int64(td/time.Second), 10) + "s"
	}
	return td.String()
}

// MarshalYAML writes the duration as a string such as "5m".
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// UnmarshalYAML reads what ParseDuration reads, for callers that decode
// fragments with the yaml package directly.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParseDuration(n.Value)
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// byteUnits are binary, as in Exchange where 36 MB is 37,748,736 bytes.
var byteUnits = map[string]int64{
	"": 1, "B": 1,
	"K": 1 << 10, "KB": 1 << 10, "KIB": 1 << 10,
	"M": 1 << 20, "MB": 1 << 20, "MIB": 1 << 20,
	"G": 1 << 30, "GB": 1 << 30, "GIB": 1 << 30,
	"T": 1 << 40, "TB": 1 << 40, "TIB": 1 << 40,
}

// ParseByteSize reads a size written as a plain integer (bytes), with a
// binary unit ("512KB", "36MB", "1 GB"), or as Exchange prints it
// ("36 MB (37,748,736 bytes)", where the byte count in brackets wins).
func ParseByteSize(s string) (ByteSize, error) {
	t := strings.TrimSpace(s)
	if open := strings.IndexByte(t, '('); open >= 0 && strings.HasSuffix(t, "bytes)") {
		inner := strings.TrimSpace(strings.TrimSuffix(t[open+1:], "bytes)"))
		n, err := strconv.ParseInt(strings.ReplaceAll(inner, ",", ""), 10, 64)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("%q is not a size", s)
		}
		return ByteSize(n), nil
	}
	i := 0
	for i < len(t) && t[i] >= '0' && t[i] <= '9' {
		i++
	}
	if i == 0 {
		return 0, fmt.Errorf("%q is not a size", s)
	}
	n, err := strconv.ParseInt(t[:i], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is too large", s)
	}
	unit, ok := byteUnits[strings.ToUpper(strings.TrimSpace(t[i:]))]
	if !ok {
		return 0, fmt.Errorf("%q has an unknown unit %q", s, strings.TrimSpace(t[i:]))
	}
	if n > math.MaxInt64/unit {
		return 0, fmt.Errorf("%q is too large", s)
	}
	return ByteSize(n * unit), nil
}

// String writes the size with the largest unit that divides it exactly.
func (b ByteSize) String() string {
	for _, u := range []struct {
		name string
		size int64
	}{{"TB", 1 << 40}, {"GB", 1 << 30}, {"MB", 1 << 20}, {"KB", 1 << 10}} {
		if b != 0 && int64(b)%u.size == 0 {
			return strconv.FormatInt(int64(b)/u.size, 10) + u.name
		}
	}
	return strconv.FormatInt(int64(b), 10)
}

// MarshalYAML writes the size as a string such as "36MB".
func (b ByteSize) MarshalYAML() (any, error) { return b.String(), nil }

// UnmarshalYAML reads what ParseByteSize reads.
func (b *ByteSize) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParseByteSize(n.Value)
	if err != nil {
		return err
	}
	*b = v
	return nil
}
