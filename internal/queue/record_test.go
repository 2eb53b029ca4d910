package queue

import (
	"reflect"
	"testing"
	"time"

	"github.com/mailflowhq/mailflow/internal/lasterror"
)

func TestRecordRoundTrip(t *testing.T) {
	m := &Message{
		ID:  "19CADC69A8000001",
		Env: sampleEnv("bob@fabrikam.com", "eve@fabrikam.com"),
		Recipients: []Recipient{
			{Addr: "bob@fabrikam.com", State: StateRetry, Attempts: 2, LastError: lasterror.New("450 4.7.320 x"), LastAttempt: t0, NextAttempt: t0.Add(time.Minute), Route: "Internet"},
			{Addr: "eve@fabrikam.com", State: StateDelivered, Attempts: 1},
		},
		Created: t0,
		Expires: t0.Add(24 * time.Hour),
	}
	b, err := encodeRecord(m)
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeRecord(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, m) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, m)
	}
}

func FuzzDecodeRecord(f *testing.F) {
	good, _ := encodeRecord(&Message{ID: "0000000000000001", Recipients: []Recipient{{Addr: "a@b.c", State: StateReady}}})
	f.Add(good)
	f.Add([]byte{})
	f.Add([]byte{1, 0, 0, 0, 0})
	f.Add(withCRC([]byte(`{"id":"0000000000000001","recipients":[{"addr":"x","state":"Bogus"}]}`)))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decodeRecord(b)
		if err != nil {
			return
		}
		if err := m.validate(); err != nil {
			t.Fatalf("decoded an invalid message: %v", err)
		}
		again, err := encodeRecord(m)
		if err != nil {
			t.Fatal(err)
		}
		m2, err := decodeRecord(again)
		if err != nil || !reflect.DeepEqual(m, m2) {
			t.Fatalf("re-encoding does not round-trip: %v", err)
		}
	})
}
