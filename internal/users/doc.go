// Package users owns the SMTP submission users of one mailflow server: the
// store in the data directory (users.json, mode 0600), password hashing and
// verification, and each user's allowed sender addresses (SendAs).
//
// Passwords are hashed with argon2id (golang.org/x/crypto/argon2) in the
// PHC string form "$argon2id$v=19$m=…,t=…,p=…$salt$hash", so the cost
// travels with each hash and can be raised later without breaking old
// entries. Verification runs in constant time and, for an unknown user,
// still runs a hash so that timing does not reveal which names exist.
//
// The store is the only writer of its file: a running node applies changes
// that arrive through the admin API, and the CLI edits the file itself only
// when no server is running. Every change is validated, written atomically
// (temporary file, fsync, rename) and then made live in memory.
package users
