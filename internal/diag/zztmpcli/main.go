package main

import (
	"os"
	"time"

	"mailflow/internal/diag"
)

func main() {
	var expect []string
	var paths []string
	js := false
	now := time.Now()
	for i := 1; i < len(os.Args); i++ {
		switch os.Args[i] {
		case "--expect":
			i++
			expect = append(expect, os.Args[i])
		case "--json":
			js = true
		case "--now":
			i++
			now, _ = time.Parse(time.RFC3339, os.Args[i])
		default:
			paths = append(paths, os.Args[i])
		}
	}
	r := diag.AnalyzeLogs(paths, diag.LogOptions{Expect: expect, Now: func() time.Time { return now }})
	if js {
		r.WriteJSON(os.Stdout)
	} else {
		r.WriteText(os.Stdout)
	}
	os.Exit(r.ExitCode())
}
