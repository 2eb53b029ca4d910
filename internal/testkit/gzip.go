package testkit

import (
	"bytes"
	"compress/gzip"
	"testing"
)

// Gzip returns data gzip-compressed, as archived Exchange logs often are,
// or fails the test.
func Gzip(t testing.TB, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
