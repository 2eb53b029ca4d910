package config

import (
	"testing"
	"time"
)

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"90s", 90 * time.Second, true},
		{"5m", 5 * time.Minute, true},
		{"1h30m", 90 * time.Minute, true},
		{" 24h ", 24 * time.Hour, true},
		{"2d", 48 * time.Hour, true},
		{"0", 0, true},
		{"-5m", -5 * time.Minute, true}, // syntax is fine; Validate refuses it
		{"300", 0, false},
		{"1.5", 0, false},
		{"", 0, false},
		{"5 minutes", 0, false},
		{"1.5d", 0, false},
		{"99999999999d", 0, false},
	}
	for _, tt := range tests {
		got, err := ParseDuration(tt.in)
		if (err == nil) != tt.ok || (tt.ok && got.Duration() != tt.want) {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v ok=%v", tt.in, got.Duration(), err, tt.want, tt.ok)
		}
	}
	strs := map[Duration]string{
		Duration(24 * time.Hour): "24h", Duration(5 * time.Minute): "5m", Duration(90 * time.Second): "90s",
		Duration(1500 * time.Millisecond): "1.5s", 0: "0s",
	}
	for d, want := range strs {
		if d.String() != want {
			t.Errorf("String(%d) = %s, want %s", d, d.String(), want)
		}
		back, err := ParseDuration(d.String())
		if err != nil || back != d {
			t.Errorf("%s does not round-trip: %v %v", d, back, err)
		}
	}
}

func TestParseByteSize(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"37748736", 37748736, true},
		{"36MB", 37748736, true},
		{"36 MB", 37748736, true},
		{"36mb", 37748736, true},
		{"36MiB", 37748736, true},
		{"512KB", 512 << 10, true},
		{"1GB", 1 << 30, true},
		{"10B", 10, true},
		{"36 MB (37,748,736 bytes)", 37748736, true}, // as Get-ReceiveConnector prints it
		{"0", 0, true},
		{"", 0, false},
		{"MB", 0, false},
		{"-5MB", 0, false},
		{"1.5MB", 0, false},
		{"36 XB", 0, false},
		{"99999999999TB", 0, false},
		{"99999999999999999999", 0, false},
		{"x (1,2 bytes)", 12, true},
		{"x (-1 bytes)", 0, false},
	}
	for _, tt := range tests {
		got, err := ParseByteSize(tt.in)
		if (err == nil) != tt.ok || (tt.ok && int64(got) != tt.want) {
			t.Errorf("ParseByteSize(%q) = %d, %v; want %d ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
	for _, b := range []ByteSize{37748736, 512 << 10, 1 << 30, 1000, 0} {
		back, err := ParseByteSize(b.String())
		if err != nil || back != b {
			t.Errorf("%d -> %q does not round-trip: %d %v", b, b.String(), back, err)
		}
	}
	if ByteSize(37748736).String() != "36MB" {
		t.Errorf("String = %s", ByteSize(37748736).String())
	}
}
