package logs

import (
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"
)

// ProgressBar draws Progress on one terminal line ("\r"-rewritten), at
// most ten times a second, and erases it when the analysis finishes so the
// report that follows starts on a clean line. The caller decides whether
// its writer is a terminal.
type ProgressBar struct {
	w     io.Writer
	now   func() time.Time
	last  time.Time
	drawn bool
}

const (
	progressBarWidth    = 30
	progressBarInterval = 100 * time.Millisecond
	progressNameWidth   = 32
)

// NewProgressBar returns a bar writing to w, throttled by the clock now.
func NewProgressBar(w io.Writer, now func() time.Time) *ProgressBar {
	if now == nil {
		now = time.Now
	}
	return &ProgressBar{w: w, now: now}
}

// Update redraws the bar for p (use it as Options.Progress).
func (b *ProgressBar) Update(p Progress) {
	if p.Finished {
		if b.drawn {
			fmt.Fprint(b.w, "\r\033[K")
			b.drawn = false
		}
		return
	}
	t := b.now()
	if b.drawn && t.Sub(b.last) < progressBarInterval {
		return
	}
	b.last, b.drawn = t, true
	fmt.Fprint(b.w, "\r"+progressLine(p)+"\033[K")
}

// progressLine renders one state of the bar.
func progressLine(p Progress) string {
	frac := 0.0
	if p.BytesTotal > 0 {
		frac = float64(min(p.BytesDone, p.BytesTotal)) / float64(p.BytesTotal)
	}
	fill := int(frac * progressBarWidth)
	name := filepath.Base(p.File)
	if p.File == "" {
		name = ""
	}
	if len(name) > progressNameWidth {
		name = "…" + name[len(name)-progressNameWidth+1:]
	}
	return fmt.Sprintf("[%s%s] %3d%% %s/%s, file %d of %d %s",
		strings.Repeat("=", fill), strings.Repeat(" ", progressBarWidth-fill), int(frac*100),
		fmtBytes(p.BytesDone), fmtBytes(p.BytesTotal), min(p.FilesDone+1, p.Files), p.Files, name)
}

func fmtBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
