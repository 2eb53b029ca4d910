// Package logfile owns the mechanics shared by mailflow's Exchange-format logs
// (internal/protolog and internal/tracking): the rotating, buffered file writer
// and the streaming reader for "#Fields:"-headed CSV files.
//
// Writing. Producers hand complete, already formatted lines to [File.Write],
// which copies them into an in-memory buffer under a short mutex and returns.
// A background goroutine swaps the buffer out every FlushInterval (and on
// [File.Flush] and [File.Close]) and writes it to disk, so a slow or stalled
// disk never blocks an SMTP session. When the pending buffer would exceed
// MaxPending the line is dropped and counted ([File.Dropped]): a log must
// never steer the mail flow it observes.
//
// Files are named PREFIXyyyymmddhh-n.LOG after the UTC hour of the lines they
// hold; n starts at 1 and increments when a file would grow past MaxFileSize,
// and a new process never appends to a file an earlier one wrote (it takes the
// next free n), so a half-written last line cannot glue onto a new one.
// Retention runs at start and whenever a file is opened: files whose hour is
// older than MaxAge go first, then the oldest files until the directory's
// files of this prefix fit MaxDirSize with the new file counted at its full
// MaxFileSize (so the directory stays within budget while it fills). The
// current file is never removed; other prefixes' files are never touched.
//
// Reading. [Scanner] splits a stream into records: it consumes "#" header
// lines (remembering #Fields in any order and #Log-type), strips a UTF-8 BOM,
// accepts CRLF or LF line ends and RFC 4180 quoting, and slices fields out of
// its read buffer without allocating. One record is one line: a quote left
// open at the end of a line makes that line malformed; malformed lines are
// counted and skipped, never fatal.
//
// CR and LF inside a field are written as a single space each (see
// [AppendField]). Escaping them reversibly (for example as \r\n) was rejected:
// real Exchange logs contain literal backslashes (connector ids such as
// SERVER1\Default Frontend SERVER1) that a reader would then misinterpret, and
// the same reader must read both.
package logfile
