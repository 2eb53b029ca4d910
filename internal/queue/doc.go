// Package queue owns the durable message queue and its delivery scheduler:
// the step between "250 accepted" and delivery, which must never lose an
// accepted message.
//
// # Guarantees
//
//   - Put returns only when the message and its body are on stable storage
//     (data and commit record fsynced). The receiver answers 250 after Put
//     returns, and "452 4.3.1 Insufficient system storage" when Put fails
//     with ErrStorage; nothing is acknowledged early.
//   - State changes (deferral, per-recipient outcome, removal) are durable
//     before the Observer hears about them. A DSN is durably queued before
//     the failure it reports is recorded, so a crash between the two causes
//     a duplicate attempt, never a lost notification.
//   - A message in flight when the process dies is recovered in its last
//     durable state and retried at once: duplicates are possible, loss is
//     not (RFC 5321 §6.1).
//   - A record that cannot be decoded is moved to a quarantine bucket and
//     logged; a file the storage engine cannot open is renamed aside. Start-
//     up never fails on damaged data, and damaged bytes are never deleted.
//
// # Scheduling
//
// Each recipient has its own state (Ready, Retry, Delivered, Failed). An
// attempt hands the due recipients of one message to the Deliverer; a
// delivered recipient is done, a failed one gets a DSN (RFC 3464
// multipart/report) to the sender, a deferred one waits Retry[attempts-1]
// (default 1m, 5m, 15m, 30m, 1h, the last repeating) spread by ±Jitter. At
// Created+Expiry (default 24h, as Exchange) the pending recipients fail
// with "550 4.4.7 QUEUE.Expired; message expired [{LED=<last error>};…]"
// and one DSN lists them. No DSN is sent for a null-sender message, which
// includes every DSN. A message leaves the store once every recipient is
// final.
//
// The scheduler keeps every queued message's metadata in memory (a heap
// ordered by due time; roughly a kilobyte per message) and reads bodies
// from the store on demand. Time comes from an injected Clock; tests drive
// it with testkit.Clock.
//
// # Storage
//
// The embedded store (BoltStore) is one bbolt file, queue.db, with bodies
// and metadata in the same file, written in the same transaction. Group
// commit is done by a committer goroutine rather than bbolt's db.Batch:
// the committer takes every write that arrived while the previous commit
// was syncing and commits them together, so a lone writer pays no batching
// delay and a busy server batches by itself. Measured with
// BenchmarkPutParallel (1 KiB bodies, 32 concurrent writers, fsync on) on
// the shared virtual disk this was developed on, whose fsync latency
// varies a lot from run to run:
//
//	one writer at a time (BenchmarkPutSerial)     65–200 msgs/s   one commit per message
//	committer, bodies in the DB (chosen)       1,000–2,200 msgs/s ≈ 15 msgs per commit
//	bbolt db.Batch, bodies in the DB             400–750 msgs/s   waits its 10 ms timer per batch
//	spool file per body + index via committer    440–1,800 msgs/s  2 extra fsyncs per message, not batchable
//
// Bodies in the database win because one commit makes a whole batch of
// bodies durable; a spool file needs its own fsync and a directory fsync
// per message. The costs, accepted: the file does not shrink when mail
// leaves (freed pages are reused; compact it offline if a burst made it
// huge), and a body is copied out of the memory map when read. The free
// list is not written at each commit (NoFreelistSync) and is rebuilt at
// open instead.
//
// Store is the seam for other backends. PostgresStore is the shared one:
// several nodes keep one queue in PostgreSQL. With a SharedStore the queue
// keeps no index of its own; Run claims due messages with SELECT … FOR
// UPDATE SKIP LOCKED under a lease (owner node, expiry) that is renewed
// during the delivery, and records the outcome with a write fenced by the
// claim, so that a node paused past its lease cannot overwrite the outcome
// of the node that took over (ErrLeaseLost). The record encoding is the
// same as BoltStore's; bodies are stored in 1 MiB chunks and streamed.
// pgx is used for the protocol, pooling and LISTEN/NOTIFY rather than
// anything hand-written.
package queue
