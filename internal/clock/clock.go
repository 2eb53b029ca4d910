// Package clock owns the injected source of time: the Clock interface the
// queue's scheduler, the node's lifecycle loops and the ACME manager wait
// on, and System, the real clock behind it. Tests pass testkit.Clock, the
// one fake clock (settable, with timers fired as it advances), so retry
// schedules, lease renewals and certificate expiry run without sleeping.
//
// It is a leaf package so that none of its users has to import another
// (the ACME manager and the node need no queue to get a clock) and testkit
// can implement it.
package clock

import "time"

// Clock is a source of time and timers.
type Clock interface {
	Now() time.Time
	NewTimer(d time.Duration) Timer
}

// Timer is the part of time.Timer the users of a Clock need.
type Timer interface {
	C() <-chan time.Time
	Stop() bool
}

// System returns the real clock.
func System() Clock { return system{} }

type system struct{}

func (system) Now() time.Time { return time.Now() }

func (system) NewTimer(d time.Duration) Timer { return sysTimer{time.NewTimer(d)} }

type sysTimer struct{ t *time.Timer }

func (t sysTimer) C() <-chan time.Time { return t.t.C }
func (t sysTimer) Stop() bool          { return t.t.Stop() }
