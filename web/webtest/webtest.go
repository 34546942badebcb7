// Package webtest drives the hub's pages in a real headless Chromium from Go
// tests, with chromedp. A test package shares one browser, started the first
// time a test asks for a tab and stopped by Main; each tab has its own
// browser context (its own cookies), so two tabs are two people.
//
//	func TestMain(m *testing.M) { os.Exit(webtest.Main(m)) }
//
//	func TestSignIn(t *testing.T) {
//		tab := webtest.NewTab(t)
//		tab.Do(chromedp.Navigate(url), chromedp.WaitVisible(chromedp.CSS("#email")))
//		tab.Screenshot("signin")
//	}
//
// Without /usr/bin/chromium the tests skip, saying how to install it,
// except under CI=true, where they fail: CI must run them.
package webtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Chromium is where the distribution's chromium package puts the browser;
// CROSSDOCK_CHROMIUM overrides it.
const Chromium = "/usr/bin/chromium"

// ScreenshotsEnv names the environment variable that, when set to a
// directory (relative ones are taken from the module root), makes
// Screenshot save there as well, for docs/screenshots.
const ScreenshotsEnv = "CROSSDOCK_SCREENSHOTS"

// Timeout bounds each tab: a test that waits longer for the page has failed.
const Timeout = 90 * time.Second

// WaitTimeout bounds one WaitText, well inside Timeout so that the failure
// can still take its screenshot.
const WaitTimeout = 20 * time.Second

var shared struct {
	once   sync.Once
	ctx    context.Context // the browser's context; tabs derive from it
	stop   func()
	dir    string // user-data-dir, removed at stop
	err    error
	active bool
}

// Main runs the package's tests and then stops the shared browser, if one
// was started. Call it from TestMain.
func Main(m *testing.M) int {
	code := m.Run()
	if shared.active {
		shared.stop()
		_ = os.RemoveAll(shared.dir)
	}
	return code
}

func chromiumPath() string {
	if p := os.Getenv("CROSSDOCK_CHROMIUM"); p != "" {
		return p
	}
	return Chromium
}

// start launches the browser once per package.
func start() error {
	shared.once.Do(func() {
		path := chromiumPath()
		if _, err := os.Stat(path); err != nil {
			shared.err = fmt.Errorf("no Chromium at %s (apt-get install chromium): %w", path, err)
			return
		}
		dir, err := os.MkdirTemp("", "crossdock-chromium-")
		if err != nil {
			shared.err = err
			return
		}
		opts := []chromedp.ExecAllocatorOption{
			chromedp.ExecPath(path),
			chromedp.UserDataDir(dir),
			chromedp.Headless,
			chromedp.DisableGPU,
			chromedp.NoFirstRun,
			chromedp.NoDefaultBrowserCheck,
			chromedp.Flag("disable-background-networking", true),
			chromedp.Flag("disable-component-update", true),
			chromedp.Flag("disable-sync", true),
			chromedp.Flag("disable-dev-shm-usage", true),
			chromedp.Flag("disable-extensions", true),
			chromedp.Flag("disable-default-apps", true),
			chromedp.Flag("password-store", "basic"),
			chromedp.Flag("use-mock-keychain", true),
			chromedp.WindowSize(1280, 900),
		}
		if os.Geteuid() == 0 {
			opts = append(opts, chromedp.NoSandbox) // Chromium refuses to sandbox as root
		}
		allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
		ctx, cancelBrowser := chromedp.NewContext(allocCtx)
		// The first Do starts the browser.
		if err := chromedp.Do(ctx); err != nil {
			cancelBrowser()
			cancelAlloc()
			_ = os.RemoveAll(dir)
			shared.err = fmt.Errorf("start %s: %w", path, err)
			return
		}
		shared.ctx, shared.dir, shared.active = ctx, dir, true
		shared.stop = func() { cancelBrowser(); cancelAlloc() }
	})
	return shared.err
}

// Tab is one browser tab in a browser context of its own.
type Tab struct {
	t   testing.TB
	ctx context.Context
}

// NewTab opens a tab for t, closed when t ends. It skips t when Chromium is
// missing, and fails it instead when CI=true.
func NewTab(t testing.TB) *Tab {
	t.Helper()
	if err := start(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("browser tests need Chromium under CI: %v", err)
		}
		t.Skipf("skipping a browser test: %v; install it with: apt-get install chromium", err)
	}
	ctx, cancel := chromedp.NewContext(shared.ctx, chromedp.WithNewBrowserContext())
	ctx, cancelTimeout := context.WithTimeout(ctx, Timeout)
	t.Cleanup(func() { cancelTimeout(); cancel() })
	tab := &Tab{t: t, ctx: ctx}
	tab.Do() // open it now, so that a broken browser fails here
	return tab
}

// Context is the tab's context, for chromedp.Run with actions that return
// values.
func (tb *Tab) Context() context.Context { return tb.ctx }

// Do runs actions in the tab; on error it saves a screenshot of the page
// as it was and fails the test.
func (tb *Tab) Do(actions ...chromedp.Action[chromedp.Void]) {
	tb.t.Helper()
	if err := chromedp.Do(tb.ctx, actions...); err != nil {
		if !errors.Is(err, context.Canceled) {
			tb.Screenshot("failed-" + tb.t.Name())
		}
		tb.t.Fatalf("browser: %v", err)
	}
}

// Text is the visible text of the first element matching the CSS selector,
// waiting for it to be there.
func (tb *Tab) Text(selector string) string {
	tb.t.Helper()
	s, err := chromedp.Run(tb.ctx, chromedp.Text(chromedp.CSS(selector)))
	if err != nil {
		tb.Screenshot("failed-" + tb.t.Name())
		tb.t.Fatalf("browser: text of %s: %v", selector, err)
	}
	return s
}

// WaitText waits until the element matching the CSS selector contains want
// (as its visible text), and fails the test with what it showed instead
// when the tab's time runs out. It polls, so it survives navigations (a
// form's submission, a redirect) while it waits.
func (tb *Tab) WaitText(selector, want string) {
	tb.t.Helper()
	js := fmt.Sprintf(`(function(){var e=document.querySelector(%q);return e?e.innerText:"(no element)";})()`, selector)
	var got string
	var err error
	deadline := time.Now().Add(WaitTimeout)
	for time.Now().Before(deadline) {
		got, err = chromedp.Run(tb.ctx, chromedp.Evaluate[string](js))
		if err == nil && strings.Contains(got, want) {
			return
		}
		if tb.ctx.Err() != nil {
			break
		}
		select {
		case <-tb.ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
	tb.Screenshot("failed-" + tb.t.Name())
	tb.t.Fatalf("browser: %s never showed %q (%v); it shows:\n%s", selector, want, err, got)
}

// Screenshot saves the whole page as <name>.png in the test's screenshot
// directory (logged) and, when CROSSDOCK_SCREENSHOTS is set, there too. It
// returns the first path.
func (tb *Tab) Screenshot(name string) string {
	tb.t.Helper()
	// The tab's own time may be up (a failure being recorded): give the
	// screenshot ten seconds of its own.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(tb.ctx), 10*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		tb.t.Logf("screenshot %s: %v", name, err)
		return ""
	}
	file := safeName(name) + ".png"
	dirs := []string{screenshotDir(tb.t)}
	if d := os.Getenv(ScreenshotsEnv); d != "" {
		if !filepath.IsAbs(d) {
			d = filepath.Join(moduleRoot(), d)
		}
		dirs = append(dirs, d)
	}
	var first string
	for _, d := range dirs {
		if err := os.MkdirAll(d, 0o755); err != nil {
			tb.t.Logf("screenshot %s: %v", name, err)
			continue
		}
		p := filepath.Join(d, file)
		if err := os.WriteFile(p, png, 0o644); err != nil {
			tb.t.Logf("screenshot %s: %v", name, err)
			continue
		}
		if first == "" {
			first = p
		}
	}
	tb.t.Logf("screenshot: %s", first)
	return first
}

var screenshotDirs sync.Map // test name → directory

// screenshotDir is a temporary directory per test, kept after the test so
// that a failure's screenshot can be looked at.
func screenshotDir(t testing.TB) string {
	if d, ok := screenshotDirs.Load(t.Name()); ok {
		return d.(string)
	}
	d := filepath.Join(os.TempDir(), "crossdock-screenshots", safeName(t.Name()))
	screenshotDirs.Store(t.Name(), d)
	return d
}

var unsafeChars = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

func safeName(s string) string { return strings.Trim(unsafeChars.ReplaceAllString(s, "-"), "-") }

// moduleRoot is the nearest directory above the working directory with a
// go.mod (tests run in their package's directory).
func moduleRoot() string {
	dir, _ := os.Getwd()
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d
		}
		if filepath.Dir(d) == d {
			return dir
		}
	}
}
