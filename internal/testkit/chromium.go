package testkit

import "github.com/chromedp/chromedp"

// Chromium is where Debian's chromium package puts the browser that the
// admin center's tests and bench/run's dashboard part drive.
const Chromium = "/usr/bin/chromium"

// ChromiumOptions are the allocator options for headless chromium on this
// kind of machine, from the tested recipe: no sandbox (tests run as root),
// no GPU, no background networking, component updates or sync, a fresh
// profile in profileDir, and no name resolving to anything — the admin
// center is reached by IP literal, so nothing the browser starts on its own
// leaves the machine.
func ChromiumOptions(profileDir string) []chromedp.ExecAllocatorOption {
	return append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(Chromium),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"),
		chromedp.UserDataDir(profileDir),
		chromedp.WindowSize(1280, 800),
	)
}
