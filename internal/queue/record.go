package queue

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
)

// A stored metadata record is: 1 byte format version, 4 bytes CRC-32C
// (Castagnoli, big-endian) of the payload, then the payload, the Message
// as JSON. The checksum catches a damaged record that the storage engine
// itself did not notice, so that it is quarantined instead of delivered
// wrongly.
const recordVersion = 1

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func encodeRecord(m *Message) ([]byte, error) {
	payload, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encode message %s: %w", m.ID, err)
	}
	b := make([]byte, 5+len(payload))
	b[0] = recordVersion
	binary.BigEndian.PutUint32(b[1:5], crcOf(payload))
	copy(b[5:], payload)
	return b, nil
}

func decodeRecord(b []byte) (*Message, error) {
	if len(b) < 5 {
		return nil, fmt.Errorf("record of %d bytes is truncated", len(b))
	}
	if b[0] != recordVersion {
		return nil, fmt.Errorf("record format version %d is not supported (want %d)", b[0], recordVersion)
	}
	payload := b[5:]
	if got, want := crcOf(payload), binary.BigEndian.Uint32(b[1:5]); got != want {
		return nil, fmt.Errorf("record checksum %08x does not match stored %08x", got, want)
	}
	var m Message
	if err := json.Unmarshal(payload, &m); err != nil {
		return nil, fmt.Errorf("decode record: %w", err)
	}
	if err := m.validate(); err != nil {
		return nil, err
	}
	return &m, nil
}

func (m *Message) validate() error {
	if !validID(m.ID) {
		return fmt.Errorf("message id %q is not 16 upper-case hex characters", m.ID)
	}
	if len(m.Recipients) == 0 {
		return errors.New("message has no recipients")
	}
	for i, r := range m.Recipients {
		if r.Addr == "" {
			return fmt.Errorf("recipient %d has no address", i)
		}
		if !r.State.valid() {
			return fmt.Errorf("recipient %s has unknown state %q", r.Addr, r.State)
		}
	}
	return nil
}

func crcOf(payload []byte) uint32 { return crc32.Checksum(payload, castagnoli) }
