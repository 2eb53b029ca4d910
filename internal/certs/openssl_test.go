package certs

import (
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// opensslX509 runs "openssl x509 -noout ARGS" on the leaf of c.
func opensslX509(t *testing.T, c *Certificate, args ...string) string {
	t.Helper()
	bin, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("openssl is not installed")
	}
	path := filepath.Join(t.TempDir(), "leaf.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Chain[0]}), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, append([]string{"x509", "-noout", "-in", path}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("openssl x509 %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// opensslField returns the value after "key=" in openssl output.
func opensslField(t *testing.T, out, key string) string {
	t.Helper()
	for _, line := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && strings.EqualFold(strings.TrimSpace(k), key) {
			return strings.TrimSpace(v)
		}
	}
	t.Fatalf("no %s= in openssl output:\n%s", key, out)
	return ""
}

// TestThumbprintAndSerialAgainstOpenSSL compares with an implementation
// nobody here wrote. openssl prints the serial's value without the DER sign
// byte, so a serial whose first byte is ≥ 0x80 is "00" + openssl's.
func TestThumbprintAndSerialAgainstOpenSSL(t *testing.T) {
	tests := []struct {
		name   string
		serial []byte
		want   string // expected Serial, "" = only compare with openssl
	}{
		{"high first byte keeps 00", []byte{0x80, 0x01, 0x02, 0x03, 0xAB, 0xCD, 0xEF, 0x10}, "00800102" + "03ABCDEF10"},
		{"low first byte", []byte{0x12, 0x34, 0x56, 0x78, 0x90, 0xAB, 0xCD, 0xEF}, "1234567890ABCDEF"},
		{"single byte", []byte{0x07}, "07"},
		{"random", nil, ""},
		{"random rsa", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tmpl := Template{Subject: "CN=SERVER1", SANs: []string{"SERVER1"}, SerialBytes: tt.serial}
			if strings.Contains(tt.name, "rsa") {
				tmpl.KeyType = "rsa2048"
			}
			c := mustGenerate(t, tmpl)
			out := opensslX509(t, c, "-fingerprint", "-sha1", "-serial")
			fp := strings.ReplaceAll(opensslField(t, out, "sha1 Fingerprint"), ":", "")
			if c.Thumbprint != fp {
				t.Errorf("Thumbprint = %s, openssl says %s", c.Thumbprint, fp)
			}
			if len(c.Thumbprint) != 40 || strings.ToUpper(c.Thumbprint) != c.Thumbprint {
				t.Errorf("Thumbprint %q is not 40 upper-case hex characters", c.Thumbprint)
			}
			osl := opensslField(t, out, "serial")
			want := osl
			if len(osl)%2 == 1 {
				want = "0" + osl
			}
			if want[0] >= '8' {
				want = "00" + want
			}
			if c.Serial != want {
				t.Errorf("Serial = %s, openssl says %s (expected %s)", c.Serial, osl, want)
			}
			if tt.want != "" && c.Serial != tt.want {
				t.Errorf("Serial = %s, want %s", c.Serial, tt.want)
			}
		})
	}
}

func TestSerialFromTBSRejectsGarbage(t *testing.T) {
	for _, raw := range [][]byte{nil, {0x30, 0x00}, {0x30, 0x03, 0xA0, 0x01, 0x00}, {0x02, 0x01, 0x01}} {
		if s, err := SerialFromTBS(raw); err == nil {
			t.Errorf("SerialFromTBS(% x) = %q, want an error", raw, s)
		}
	}
}
