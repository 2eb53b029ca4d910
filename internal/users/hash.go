package users

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Params are argon2id cost parameters.
type Params struct {
	Memory  uint32 // KiB
	Time    uint32 // passes
	Threads uint8
}

// DefaultParams follow OWASP's argon2id recommendation (19 MiB, 2 passes,
// 1 lane): about 30 ms per check on one core, so a brute-force loop is slow
// while a device's occasional login is not.
var DefaultParams = Params{Memory: 19 * 1024, Time: 2, Threads: 1}

const (
	saltLen = 16
	keyLen  = 32
)

// ErrBadHash means a stored hash is not a well-formed argon2id PHC string.
var ErrBadHash = errors.New("not an argon2id hash")

// Hash returns the PHC string of password with a fresh random salt.
func Hash(password string, p Params) (string, error) {
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	key := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, keyLen)
	enc := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.Memory, p.Time, p.Threads,
		enc.EncodeToString(salt), enc.EncodeToString(key)), nil
}

// parsed is a decoded PHC string.
type parsed struct {
	p    Params
	salt []byte
	key  []byte
}

// maxMemory bounds what a stored hash may ask for (1 GiB), so a damaged or
// hostile users file cannot make one login exhaust the server.
const maxMemory = 1 << 20

func parseHash(s string) (parsed, error) {
	parts := strings.Split(s, "$")
	// "", "argon2id", "v=19", "m=…,t=…,p=…", salt, key
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return parsed{}, ErrBadHash
	}
	var v int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version {
		return parsed{}, fmt.Errorf("%w: unsupported version %q", ErrBadHash, parts[2])
	}
	var h parsed
	var threads uint32
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &h.p.Memory, &h.p.Time, &threads); err != nil {
		return parsed{}, fmt.Errorf("%w: bad parameters %q", ErrBadHash, parts[3])
	}
	if h.p.Memory == 0 || h.p.Memory > maxMemory || h.p.Time == 0 || h.p.Time > 100 || threads == 0 || threads > 255 {
		return parsed{}, fmt.Errorf("%w: parameters out of range %q", ErrBadHash, parts[3])
	}
	h.p.Threads = uint8(threads)
	var err error
	if h.salt, err = base64.RawStdEncoding.DecodeString(parts[4]); err != nil || len(h.salt) < 8 {
		return parsed{}, fmt.Errorf("%w: bad salt", ErrBadHash)
	}
	if h.key, err = base64.RawStdEncoding.DecodeString(parts[5]); err != nil || len(h.key) < 16 || len(h.key) > 64 {
		return parsed{}, fmt.Errorf("%w: bad key", ErrBadHash)
	}
	return h, nil
}

// CheckHash reports whether a PHC string is well formed.
func CheckHash(s string) error {
	_, err := parseHash(s)
	return err
}

// Verify reports whether password matches the PHC string hash; a
// malformed hash matches nothing. The admin center's login password uses
// it, so mailflow hashes every password one way.
func Verify(hash, password string) bool {
	h, err := parseHash(hash)
	return err == nil && verify(h, password)
}

// verify compares password with the hash in constant time.
func verify(h parsed, password string) bool {
	got := argon2.IDKey([]byte(password), h.salt, h.p.Time, h.p.Memory, h.p.Threads, uint32(len(h.key)))
	return subtle.ConstantTimeCompare(got, h.key) == 1
}
