package queue

import (
	"encoding/binary"
	"testing"
)

// TestEnvelopeRequireTLSCompatible: records written before the REQUIRETLS
// flags existed still load (flags false), and new records keep them.
func TestEnvelopeRequireTLSCompatible(t *testing.T) {
	old := []byte(`{"id":"0000018C2A3B4C5D","env":{"from":"a@b.c","to":["d@e.f"],"received_at":"2026-01-01T00:00:00Z","size":3},"recipients":[{"addr":"d@e.f","state":"Ready","attempts":0}],"created":"2026-01-01T00:00:00Z","expires":"2026-01-02T00:00:00Z"}`)
	rec := make([]byte, 5+len(old))
	rec[0] = recordVersion
	binary.BigEndian.PutUint32(rec[1:5], crcOf(old))
	copy(rec[5:], old)
	m, err := decodeRecord(rec)
	if err != nil {
		t.Fatalf("old record: %v", err)
	}
	if m.Env.RequireTLS || m.Env.TLSOptional {
		t.Fatalf("old record decoded with flags set: %+v", m.Env)
	}
	m.Env.RequireTLS = true
	b, err := encodeRecord(m)
	if err != nil {
		t.Fatal(err)
	}
	m2, err := decodeRecord(b)
	if err != nil || !m2.Env.RequireTLS {
		t.Fatalf("round trip: %+v %v", m2, err)
	}
}
